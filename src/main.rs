use std::process::ExitCode;

fn main() -> ExitCode {
    flowlog_operator::cli::main()
}
