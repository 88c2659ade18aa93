//! The operator's heap, counted and given back. The binary's global allocator is [`Counting`] around the system's,
//! and `flowlog_heap_bytes` shows what the process holds now: memory per policy is a design target (the fleet
//! benchmark prints it next to RSS), so what the operator holds must be visible apart from what the allocator keeps.
//!
//! With glibc, [`configure`] caps the malloc arenas at two (one per thread by default, each keeping its own freed
//! memory) and [`give_back`] returns freed pages to the system once the heap has shrunk (after a fleet converged,
//! the memory its writes needed is not kept for the steady state). musl's allocator returns memory by itself.
//!
//! A leaf: nothing here knows about policies or Azure.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

static HELD: AtomicIsize = AtomicIsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A global allocator that counts the bytes held through it.
pub struct Counting<A>(pub A);

// SAFETY: every call is forwarded to the inner allocator unchanged; the counter is only arithmetic.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            held(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            held(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's pointer and layout, as allocated by the inner allocator.
        unsafe { self.0.dealloc(ptr, layout) };
        held(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's pointer, layout and size, as allocated by the inner allocator.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            held(new_size as isize - layout.size() as isize);
        }
        p
    }
}

fn held(delta: isize) {
    HELD.fetch_add(delta, Ordering::Relaxed);
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
}

/// The bytes the process holds on its heap now; `None` when [`Counting`] is not the global allocator (in tests
/// that link the library into their own binary).
pub fn held_bytes() -> Option<u64> {
    INSTALLED.load(Ordering::Relaxed).then(|| HELD.load(Ordering::Relaxed).max(0) as u64)
}

/// Tunes the allocator before the process starts threads (a no-op but with glibc; `MALLOC_ARENA_MAX` in the
/// environment wins).
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// The heap's size at the last [`give_back`] and the largest seen since.
static SINCE_GIVEN_BACK: Mutex<(u64, u64)> = Mutex::new((0, 0));

/// Returns freed memory to the system when the heap shrank by 8 MiB or more since its peak (call it every few
/// seconds: it costs a walk over the allocator's free lists only then). Answers whether it did.
pub fn give_back() -> bool {
    let Some(now) = held_bytes() else { return false };
    let mut since = SINCE_GIVEN_BACK.lock().expect("not poisoned");
    since.1 = since.1.max(now);
    if since.1.saturating_sub(now) < 8 << 20 {
        return false;
    }
    *since = (now, now);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn counts_what_is_held_through_it() {
        let counting = Counting(System);
        let before = HELD.load(Ordering::Relaxed);
        let layout = Layout::from_size_align(4096, 8).unwrap();
        // SAFETY: a fresh allocation of a valid layout, grown and then freed with the layout it has then.
        unsafe {
            let p = counting.alloc(layout);
            assert!(!p.is_null());
            assert_eq!(HELD.load(Ordering::Relaxed) - before, 4096);
            let p = counting.realloc(p, layout, 10_000);
            assert!(!p.is_null());
            assert_eq!(HELD.load(Ordering::Relaxed) - before, 10_000);
            counting.dealloc(p, Layout::from_size_align(10_000, 8).unwrap());
        }
        assert_eq!(HELD.load(Ordering::Relaxed), before);
        assert!(held_bytes().is_some());
    }
}
