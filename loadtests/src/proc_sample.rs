//! CPU time and resident memory of a process, from `/proc`.

use std::time::Instant;

use anyhow::Context;

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux).
const CLK_TCK: f64 = 100.0;

fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11).context("no utime")?.parse()?;
    let stime: u64 = f.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// CPU used by a process between [`Sampler::new`] and [`Sampler::cpu_percent`].
pub struct Sampler {
    pid: u32,
    ticks: u64,
    at: Instant,
}

impl Sampler {
    pub fn new(pid: u32) -> anyhow::Result<Self> {
        Ok(Sampler {
            pid,
            ticks: cpu_ticks(pid)?,
            at: Instant::now(),
        })
    }

    /// Percent of one core (200 = two cores busy).
    pub fn cpu_percent(&self) -> anyhow::Result<f64> {
        let used = (cpu_ticks(self.pid)? - self.ticks) as f64 / CLK_TCK;
        Ok(100.0 * used / self.at.elapsed().as_secs_f64())
    }
}

/// Resident set size in MB.
pub fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("no VmRSS")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb / 1024.0)
}
