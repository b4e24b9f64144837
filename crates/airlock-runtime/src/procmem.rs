//! How much memory processes hold, read from `/proc/PID/smaps_rollup`: what a warm pool
//! costs while it waits, for `doctor`, `bench`, `/health` and the pool's memory budget.
//!
//! Two figures, because a forked sandbox shares most of its pages with its template:
//! PSS (each shared page divided among the processes mapping it: these add up to the
//! machine's real use) and private (USS: pages only this sandbox holds, what one more
//! sandbox adds).

/// Memory of one sandbox (or template), summed over its processes, in MiB.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Memory {
    /// Proportional set size.
    pub pss_mb: f64,
    /// Pages mapped by these processes alone.
    pub private_mb: f64,
}

impl Memory {
    /// The memory of `pids` (processes that are gone count nothing).
    pub fn of(pids: &[i32]) -> Memory {
        let mut kb = [0u64; 2];
        for text in pids
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        {
            for line in text.lines() {
                let mut words = line.split_whitespace();
                let slot = match words.next() {
                    Some("Pss:") => 0,
                    Some("Private_Clean:" | "Private_Dirty:") => 1,
                    _ => continue,
                };
                kb[slot] += words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            }
        }
        Memory {
            pss_mb: kb[0] as f64 / 1024.0,
            private_mb: kb[1] as f64 / 1024.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_memory_and_private_is_within_pss() {
        let own = Memory::of(&[std::process::id() as i32]);
        assert!(own.pss_mb > 0.5, "{own:?}");
        assert!(own.private_mb <= own.pss_mb + 0.01, "{own:?}");
    }

    #[test]
    fn gone_processes_count_nothing() {
        assert_eq!(Memory::of(&[i32::MAX]), Memory::default());
    }
}
