use std::process::ExitCode;

/// The system's allocator, counted (`flowlog_heap_bytes`, see [`flowlog_operator::heap`]).
#[global_allocator]
static ALLOCATOR: flowlog_operator::heap::Counting<std::alloc::System> =
    flowlog_operator::heap::Counting(std::alloc::System);

fn main() -> ExitCode {
    flowlog_operator::heap::configure();
    flowlog_operator::cli::main()
}
