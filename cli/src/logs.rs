//! `argus logs mine` and `argus logs bench`: the template miner over a file or standard input.
//!
//! Input is read as bytes and split on `\n`; a trailing `\r` is dropped (CRLF files) and invalid
//! UTF-8 is replaced (lossy), so any file can be mined without a panic. A final line without a
//! line end still counts; an empty input has no lines and no templates.

use crate::commands::{CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use argus::logmine::{TemplateId, TemplateMiner};
use serde_json::json;
use std::borrow::Cow;
use std::hint::black_box;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Progress goes to stderr every this many lines, so a long run shows it is alive.
const PROGRESS_EVERY: u64 = 1_000_000;
/// Reads in large blocks: the floor and the miner then measure parsing, not system calls.
const READ_BUFFER_BYTES: usize = 1 << 16;

/// Calls `per_line` with every line of `reader`, without its line end, decoded lossily.
/// Returns the number of lines and bytes read.
fn for_each_line(reader: impl Read, mut per_line: impl FnMut(&str)) -> std::io::Result<(u64, u64)> {
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, reader);
    let mut buffer = Vec::with_capacity(1024);
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        buffer.clear();
        let read = reader.read_until(b'\n', &mut buffer)?;
        if read == 0 {
            return Ok((lines, bytes));
        }
        bytes += read as u64;
        let mut end = buffer.len();
        if buffer[..end].ends_with(b"\n") {
            end -= 1;
        }
        if buffer[..end].ends_with(b"\r") {
            end -= 1;
        }
        let text: Cow<'_, str> = String::from_utf8_lossy(&buffer[..end]);
        per_line(&text);
        lines += 1;
    }
}

fn open_input(path: &Path) -> Result<Box<dyn Read>, CliError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    if path.is_dir() {
        return Err(CliError::new(
            EXIT_USAGE,
            format!("{} is a folder; give a log file or `-`", path.display()),
        ));
    }
    std::fs::File::open(path)
        .map(|file| Box::new(file) as Box<dyn Read>)
        .map_err(|error| {
            CliError::new(
                EXIT_USAGE,
                format!("cannot read {}: {error}", path.display()),
            )
        })
}

fn read_error(path: &Path, error: &std::io::Error) -> CliError {
    CliError::new(
        EXIT_FAILURE,
        format!("reading {} failed: {error}", path.display()),
    )
}

fn write_error(error: &std::io::Error) -> CliError {
    CliError::new(EXIT_FAILURE, format!("cannot write the output: {error}"))
}

/// `argus logs mine`: templates with counts, most frequent first, or one id per input line.
pub fn mine(path: &Path, per_line: bool, limit: Option<usize>, json: bool) -> Result<u8, CliError> {
    let input = open_input(path)?;
    let started = Instant::now();
    let mut miner = TemplateMiner::default();
    // Per-line mode keeps one 8-byte id per line and resolves them at the end, because later
    // lines can generalise a template and so change the id an earlier line got.
    let mut ids: Vec<TemplateId> = Vec::new();
    let mut seen = 0u64;
    let (lines, _) = for_each_line(input, |line| {
        let learned = miner.add_line(line);
        if per_line {
            ids.push(learned.template_id);
        }
        seen += 1;
        if seen.is_multiple_of(PROGRESS_EVERY) {
            eprintln!(
                "argus: {seen} lines, {} templates, {:.1} s",
                miner.template_count(),
                started.elapsed().as_secs_f64()
            );
        }
    })
    .map_err(|error| read_error(path, &error))?;
    if lines >= PROGRESS_EVERY {
        eprintln!(
            "argus: mined {lines} lines into {} templates in {:.2} s",
            miner.template_count(),
            started.elapsed().as_secs_f64()
        );
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if per_line {
        for id in ids {
            let current = miner.resolve_id(id).unwrap_or(id);
            if json {
                writeln!(out, "{}", json!({ "template_id": current }))
            } else {
                writeln!(out, "{current}")
            }
            .map_err(|error| write_error(&error))?;
        }
    } else {
        let mut templates: Vec<_> = miner.templates().collect();
        // A stable sort keeps first-seen order among templates with equal counts.
        templates.sort_by_key(|template| std::cmp::Reverse(template.count));
        let width = templates
            .first()
            .map_or(1, |template| template.count.to_string().len());
        for template in templates.iter().take(limit.unwrap_or(usize::MAX)) {
            // What is printed gets pasted into tickets: secrets are redacted, and the line is
            // escaped for the terminal like every line the CLI prints.
            let text = argus::loganalysis::redact::redact(template.text);
            let line = if json {
                json!({
                    "template_id": template.id,
                    "count": template.count,
                    "template": text,
                    "sample": argus::loganalysis::redact::redact(template.sample),
                })
                .to_string()
            } else {
                format!("{:>width$} {} {text}", template.count, template.id)
            };
            writeln!(out, "{}", crate::render::escaped(&line))
                .map_err(|error| write_error(&error))?;
        }
    }
    out.flush().map_err(|error| write_error(&error))?;
    Ok(EXIT_OK)
}

/// What one timed pass over the input measured.
struct Pass {
    lines: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Pass {
    fn lines_per_second(&self) -> f64 {
        self.lines as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Peak resident memory of this process in KiB (`VmHWM`), where the system reports it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `argus logs bench`: mining throughput beside the floor (reading the same input and splitting
/// it into tokens, with no mining), both measured in this run, alternating, and reported as
/// medians, so a noisy shared machine moves both figures alike.
pub fn bench(path: &Path, repeats: usize, json: bool) -> Result<u8, CliError> {
    if path.as_os_str() == "-" || !path.is_file() {
        return Err(CliError::new(
            EXIT_USAGE,
            format!(
                "bench needs a file it can read several times, not {}",
                path.display()
            ),
        ));
    }
    let repeats = repeats.max(1);
    let open = || {
        std::fs::File::open(path).map_err(|error| {
            CliError::new(
                EXIT_USAGE,
                format!("cannot read {}: {error}", path.display()),
            )
        })
    };
    let mut floor_rates = Vec::with_capacity(repeats);
    let mut mine_rates = Vec::with_capacity(repeats);
    let mut templates = 0;
    let mut size = (0, 0);
    for round in 0..repeats {
        let started = Instant::now();
        let mut tokens = 0usize;
        let (lines, bytes) = for_each_line(open()?, |line| {
            tokens += black_box(line.split_ascii_whitespace().count());
        })
        .map_err(|error| read_error(path, &error))?;
        let floor = Pass {
            lines,
            bytes,
            elapsed: started.elapsed(),
        };
        black_box(tokens);
        let started = Instant::now();
        let mut miner = TemplateMiner::default();
        let (lines, bytes) = for_each_line(open()?, |line| {
            black_box(miner.add_line(line));
        })
        .map_err(|error| read_error(path, &error))?;
        let mining = Pass {
            lines,
            bytes,
            elapsed: started.elapsed(),
        };
        templates = miner.template_count();
        size = (mining.lines, mining.bytes);
        if !json && repeats > 1 {
            eprintln!(
                "[{}/{repeats}] floor {:.0} lines/s, mining {:.0} lines/s",
                round + 1,
                floor.lines_per_second(),
                mining.lines_per_second()
            );
        }
        floor_rates.push(floor.lines_per_second());
        mine_rates.push(mining.lines_per_second());
    }
    let floor = median(floor_rates);
    let mining = median(mine_rates);
    let ratio = if mining > 0.0 { floor / mining } else { 0.0 };
    let peak = peak_rss_kib();
    let (lines, bytes) = size;
    if json {
        outln!(
            "{}",
            json!({
                "file": path.display().to_string(),
                "lines": lines,
                "bytes": bytes,
                "repeats": repeats,
                "templates": templates,
                "floor_lines_per_second": floor.round(),
                "mining_lines_per_second": mining.round(),
                "mining_cost_over_floor": (ratio * 100.0).round() / 100.0,
                "peak_rss_kib": peak,
            })
        );
    } else {
        outln!("input    {}: {lines} lines, {bytes} bytes", path.display());
        outln!(
            "floor    {:>12.0} lines/s  read, split into lines and tokens (median of {repeats})",
            floor
        );
        outln!(
            "mining   {:>12.0} lines/s  the same reading, then mining ({templates} templates)",
            mining
        );
        outln!("ratio    {ratio:>12.2}x         mining time over floor time");
        if let Some(peak) = peak {
            outln!(
                "memory   {:>12.1} MiB     peak resident set of this process",
                peak as f64 / 1024.0
            );
        }
    }
    Ok(EXIT_OK)
}
