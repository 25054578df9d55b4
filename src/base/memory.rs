//! The allocator's settings, made before any thread starts.
//!
//! glibc's malloc gives each thread that contends for it an arena of its own (up to eight per
//! core) and keeps what a thread frees there, and it raises its mmap threshold each time a
//! large block is freed, after which blocks of that size come from the arenas too and stay.
//! A deploy's threads (the runtime's workers, the blocking pool reading files for the upload
//! parts, the scan) free megabytes at a time: measured with `deploy --upload-mode put` of a
//! 2 GiB release (scripts/bench), peak RSS 42 MiB with the defaults, 29 MiB with two arenas,
//! 26 MiB with two arenas and the threshold held at its default of 128 KiB (live heap: 8 MiB,
//! by heaptrack). Both are glibc's documented tunables (mallopt(3): `M_ARENA_MAX`,
//! `M_MMAP_THRESHOLD`, which when set also stops the threshold's adjustment).

/// Two arenas, and blocks from 128 KiB up mapped and unmapped on their own.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's parameters; called first thing in main, before
        // any thread exists. A refusal (0) leaves glibc's defaults, which work, only larger.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}
