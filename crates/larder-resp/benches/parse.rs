//! Micro-benchmarks: parsing a pipeline of 16 SET requests, one inline
//! command, and encoding typical replies.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use larder_resp::{Limits, Parse, Protocol, Reply, RequestParser};

fn set_pipeline() -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..16 {
        let key = format!("key:{i:012}");
        let val = format!("{i:016}");
        buf.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n${}\r\n{}\r\n",
                key.len(),
                key,
                val.len(),
                val
            )
            .as_bytes(),
        );
    }
    buf
}

fn parse_all(parser: &mut RequestParser, buf: &[u8], limits: &Limits) -> usize {
    let mut off = 0;
    let mut total = 0;
    loop {
        match parser.parse(&buf[off..], limits) {
            Ok(Parse::Request { consumed }) => {
                total += parser.args(&buf[off..]).len();
                off += consumed;
            }
            Ok(Parse::Skip { consumed }) => off += consumed,
            Ok(Parse::Incomplete { .. }) | Err(_) => break,
        }
    }
    total
}

fn bench_parse(c: &mut Criterion) {
    let limits = Limits::default();
    let buf = set_pipeline();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("pipeline_16_set", |b| {
        let mut parser = RequestParser::new();
        b.iter(|| parse_all(&mut parser, black_box(&buf), &limits))
    });
    let inline = b"SET key:000000000001 \"hello world\"\r\n".to_vec();
    g.throughput(Throughput::Bytes(inline.len() as u64));
    g.bench_function("inline_set", |b| {
        let mut parser = RequestParser::new();
        b.iter(|| parse_all(&mut parser, black_box(&inline), &limits))
    });
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let mut out = Vec::with_capacity(4096);
    g.bench_function("16_ok_and_bulks", |b| {
        b.iter(|| {
            out.clear();
            let mut r = Reply::new(&mut out, Protocol::Resp2);
            for i in 0..16i64 {
                r.ok();
                r.int(black_box(i * 1000));
                r.bulk(black_box(b"0000000000000042"));
            }
            out.len()
        })
    });
    g.bench_function("16_doubles_resp2", |b| {
        b.iter(|| {
            out.clear();
            let mut r = Reply::new(&mut out, Protocol::Resp2);
            for i in 0..16 {
                r.double(black_box(i as f64 * 1.1));
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse, bench_encode);
criterion_main!(benches);
