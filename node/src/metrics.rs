//! The recorder's and the vault's counters in `/metrics`: both keep plain atomics, copied into
//! Prometheus counters at scrape time.

use std::sync::Arc;

/// The vault's counters (`vidid_vault_*`), refreshed by the returned scrape hook.
pub fn vault_metrics(
    registry: &prometheus::Registry,
    stats: Arc<vidid_vault::VaultStats>,
) -> prometheus::Result<Box<dyn Fn() + Send + Sync>> {
    use prometheus::{IntCounter, IntGauge};
    let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
        let c = IntCounter::new(name, help)?;
        registry.register(Box::new(c.clone()))?;
        Ok(c)
    };
    let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
        let g = IntGauge::new(name, help)?;
        registry.register(Box::new(g.clone()))?;
        Ok(g)
    };
    let sealed = counter(
        "vidid_vault_chunks_sealed_total",
        "Encrypted recording chunks sealed",
    )?;
    let uploads = counter(
        "vidid_vault_uploads_total",
        "Objects stored (chunks, manifests, chain links)",
    )?;
    let bytes = counter("vidid_vault_upload_bytes_total", "Bytes stored")?;
    let retries = counter(
        "vidid_vault_upload_retries_total",
        "Failed store attempts, retried",
    )?;
    let alarms = counter(
        "vidid_vault_retention_alarms_total",
        "Stored objects whose COMPLIANCE retention read back missing or short",
    )?;
    let manifests = counter(
        "vidid_vault_manifests_total",
        "Recording manifests signed and stored",
    )?;
    let recovered = counter(
        "vidid_vault_recordings_recovered_total",
        "Recordings of a killed process closed as incomplete at start-up",
    )?;
    let spool = gauge(
        "vidid_vault_spool_chunks",
        "Sealed chunks waiting in the spool for storage",
    )?;
    let chain = gauge(
        "vidid_vault_chain_seq",
        "Sequence number of the manifest chain's head",
    )?;
    let catch_up = |c: &IntCounter, v: u64| c.inc_by(v.saturating_sub(c.get()));
    Ok(Box::new(move || {
        let s = stats.snapshot();
        catch_up(&sealed, s.chunks_sealed);
        catch_up(&uploads, s.uploads);
        catch_up(&bytes, s.bytes_uploaded);
        catch_up(&retries, s.upload_retries);
        catch_up(&alarms, s.retention_alarms);
        catch_up(&manifests, s.manifests_written);
        catch_up(&recovered, s.recordings_recovered);
        spool.set(s.spool_chunks as i64);
        chain.set(s.chain_seq as i64);
    }))
}

/// The recorder's counters (`vidid_recorder_*`), refreshed by the returned scrape hook.
pub fn recorder_metrics(
    registry: &prometheus::Registry,
    stats: Arc<vidid_recorder::RecorderStats>,
) -> prometheus::Result<Box<dyn Fn() + Send + Sync>> {
    let bytes = prometheus::IntCounter::new(
        "vidid_recorder_bytes_written_total",
        "Bytes the recorder wrote",
    )?;
    let packets = prometheus::IntCounter::new(
        "vidid_recorder_packets_written_total",
        "Audio packets the recorder wrote",
    )?;
    let dropped = prometheus::IntCounter::new(
        "vidid_recorder_packets_dropped_total",
        "Audio packets the recorder dropped (late, duplicate, overflow)",
    )?;
    let active = prometheus::IntGauge::new(
        "vidid_recorder_active_recordings",
        "Recordings being written",
    )?;
    for c in [&bytes, &packets, &dropped] {
        registry.register(Box::new(c.clone()))?;
    }
    registry.register(Box::new(active.clone()))?;
    // The recorder keeps plain atomics; copy them into the counters at scrape time.
    let catch_up = |c: &prometheus::IntCounter, v: u64| c.inc_by(v.saturating_sub(c.get()));
    Ok(Box::new(move || {
        let s = stats.snapshot();
        catch_up(&bytes, s.bytes_written);
        catch_up(&packets, s.packets_written);
        catch_up(&dropped, s.packets_dropped());
        active.set(s.recordings_active as i64);
    }))
}
