//! `docs/REPRODUCTION.md` and its SVG figures, generated from the study's results JSON:
//! [`stats`] (means and spreads over seeds), [`figures`] (the charts) and [`text`] (the
//! Markdown). Every file is written atomically.

mod figures;
mod stats;
mod text;

use splash::study::StudyResults;
use splash::weights::write_atomic;
use std::path::Path;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Writes `out` (Markdown) and its figures into the folder of `results_path`, linked
/// relative to `out`.
pub fn write_report(results: &StudyResults, results_path: &Path, out: &Path) -> Res<()> {
    let dir = out.parent().unwrap_or(Path::new("."));
    // Figures go next to the results file (docs/study for the default LeNet5 study), and the
    // Markdown links to them relative to its own folder.
    let fig_dir = results_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(dir)
        .to_path_buf();
    std::fs::create_dir_all(&fig_dir)?;
    let figures = figures::write_figures(results, &fig_dir)?;
    let link = |name: &str| -> String {
        let rel = fig_dir.strip_prefix(dir).unwrap_or(&fig_dir);
        rel.join(name).display().to_string()
    };
    let md = text::markdown(results, results_path, out, &figures, &link)?;
    write_atomic(out, md.as_bytes())?;
    Ok(())
}
