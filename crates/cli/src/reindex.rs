//! `wasmhub reindex`: rebuild every manifest's Wasm facts, with a progress bar when stderr is
//! a terminal and a summary at the end. Safe while `wasmhub serve` runs on the same data: each
//! manifest is re-indexed in its own transaction (see `Registry::reindex`).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::ReindexArgs;

pub async fn run(args: ReindexArgs) -> anyhow::Result<()> {
    let registry = crate::open_registry(&args.database.database_url, &args.storage_url, Default::default()).await?;
    let total = registry.manifest_count().await?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} manifests ({eta} left) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    tracing::info!(manifests = total, "re-indexing Wasm facts");
    let summary = registry
        .reindex(|so_far| {
            bar.set_position(so_far.manifests);
            bar.set_message(format!("{} wasm, {} unrecognised", so_far.wasm, so_far.unrecognised));
        })
        .await?;
    bar.finish_and_clear();
    tracing::info!(
        manifests = summary.manifests,
        wasm = summary.wasm,
        unrecognised = summary.unrecognised,
        not_wasm = summary.not_wasm,
        deleted_meanwhile = summary.vanished,
        failed = summary.failed,
        "re-index finished"
    );
    registry.index().close().await;
    if summary.failed > 0 {
        anyhow::bail!("{} manifests could not be re-indexed (see the log)", summary.failed);
    }
    Ok(())
}
