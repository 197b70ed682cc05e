//! Running in the background (`daemonize yes`) and the pid file, as Redis.
//!
//! [`detach`] forks while the process has one thread (before the runtime
//! and the logger exist): the parent exits at once, as Redis's does, and
//! the child leaves the terminal's session and points stdin, stdout and
//! stderr at `/dev/null` — so with `logfile ""` the log goes nowhere, as
//! Redis's. Errors after that (a port in use) are only in the log file.
//!
//! [`PidFile`] writes the process id to `pidfile` when one is set, or to
//! [`DEFAULT_PIDFILE`] when daemonized without one (Redis: createPidFile),
//! and removes it when the server stops. A relative path is under `dir`,
//! where Redis works. Failing to write it is a warning, not an error.

use std::path::{Path, PathBuf};

/// Where a daemon without a `pidfile` writes its pid (Redis's is
/// `/var/run/redis.pid`).
pub const DEFAULT_PIDFILE: &str = "/var/run/larder.pid";

/// Forks into the background; returns in the child only.
pub fn detach() -> std::io::Result<()> {
    // SAFETY: the process is single-threaded here (called before any thread
    // is started), so the child may go on running Rust code after fork.
    unsafe {
        match libc::fork() {
            -1 => return Err(std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            for std_fd in 0..3 {
                libc::dup2(fd, std_fd);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

/// The pid file, removed on drop.
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes this process's id to `path` (relative: under `dir`).
    pub fn create(path: &str, dir: &Path) -> Option<PidFile> {
        let path = dir.join(path);
        match std::fs::write(&path, format!("{}\n", std::process::id())) {
            Ok(()) => Some(PidFile(path)),
            Err(e) => {
                tracing::warn!("Failed to write PID file {}: {e}", path.display());
                None
            }
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
