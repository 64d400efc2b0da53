//! The `myelin` command-line tool.

fn main() -> std::process::ExitCode {
    match myelin::host::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
