//! The process's allocator: mimalloc for blocks under 1 MiB, the system's for larger ones.
//!
//! mimalloc made the billing run about 10 % faster (glibc's malloc and free took two fifths
//! of its main thread: rows, binds and JSON built and dropped a batch at a time), but it keeps
//! freed memory for reuse, so each log-in's 19 MiB argon2 block stayed resident (idle RSS
//! 23 → 75 MiB). Blocks of 1 MiB or more therefore go to glibc, which serves them with their
//! own mapping (`M_MMAP_THRESHOLD`, set in `main`) and gives them back when freed. A block's
//! size at `dealloc` and `realloc` is the one it was allocated with, so each block is always
//! returned to the allocator that made it; a `realloc` across the line moves the block.
//!
//! An idle server is still larger than with glibc alone (46 MiB resident against 23 after
//! `guichet bench api`, within the 50 MB target): mimalloc commits its arenas eagerly.
//! `MIMALLOC_ARENA_EAGER_COMMIT=0` in the environment (read when mimalloc starts, before
//! `main`, so it cannot be set from here) brings it to 32 MiB at no measured cost.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of this size or more go to the system allocator.
const LARGE: usize = 1 << 20;

pub struct Split;

// SAFETY: every method hands a block to exactly one of two sound allocators, chosen by the
// block's size, which the caller passes unchanged to `dealloc` and `realloc` (the `GlobalAlloc`
// contract), so a block is always freed or resized by the allocator that made it.
unsafe impl GlobalAlloc for Split {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout is passed on unchanged.
        unsafe {
            if layout.size() >= LARGE {
                System.alloc(layout)
            } else {
                mimalloc::MiMalloc.alloc(layout)
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe {
            if layout.size() >= LARGE {
                System.alloc_zeroed(layout)
            } else {
                mimalloc::MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated with `layout`, so by the allocator its size selects.
        unsafe {
            if layout.size() >= LARGE {
                System.dealloc(ptr, layout)
            } else {
                mimalloc::MiMalloc.dealloc(ptr, layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let was_large = layout.size() >= LARGE;
        // SAFETY: `ptr` and `layout` come from a previous allocation of this allocator; the
        // new layout keeps the alignment, and `new_size` is non-zero and does not overflow
        // when rounded up to it (the caller's guarantees).
        unsafe {
            if was_large == (new_size >= LARGE) {
                return if was_large {
                    System.realloc(ptr, layout, new_size)
                } else {
                    mimalloc::MiMalloc.realloc(ptr, layout, new_size)
                };
            }
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blocks_cross_the_line_and_back_intact() {
        // A vector grown from small to large and shrunk back moves between the allocators
        // (realloc across the line) and keeps its contents each way.
        let mut v: Vec<u8> = (0..=255).cycle().take(1000).collect();
        v.reserve_exact(2 << 20);
        assert!(v.capacity() >= super::LARGE);
        v.extend((0..=255u8).cycle().take(3 << 20));
        v.truncate(1000);
        v.shrink_to_fit();
        assert!(v.capacity() < super::LARGE);
        assert!(v.iter().enumerate().all(|(i, &b)| b == (i % 256) as u8));
    }
}
