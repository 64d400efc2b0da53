//! The `myelin` command-line tool.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    match myelin::host::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
