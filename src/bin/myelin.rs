//! The `myelin` command-line tool.

#![deny(unsafe_code)]

/// Restores the default action of `SIGPIPE` (Rust ignores it), so that
/// `myelin inspect MODEL | head` ends quietly when the reader closes the
/// pipe instead of failing on the next write.
#[cfg(unix)]
#[allow(unsafe_code)]
fn default_sigpipe() {
    // SAFETY: called first in `main`, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(unix)]
    default_sigpipe();
    match myelin::host::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
