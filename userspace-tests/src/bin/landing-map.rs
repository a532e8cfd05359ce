//! Print the landing map: for each device and path, which reservation got a
//! fence, with which usage, from which driver/timeline, how long it stayed
//! pending, and what went wrong.

use anyhow::Result;
use clap::Parser;
use userspace_tests::paths::{self, CapSource, End, Env, ExportWhen, FencePlan, LandingRow};

#[derive(Parser)]
#[command(about = "Where videobuf2 producer fences land, per device and path")]
struct Args {
    /// Print JSON (one array of rows) instead of a table.
    #[arg(long)]
    json: bool,
    /// Transaction time for vim2m jobs in ms (the observation window).
    #[arg(long, default_value_t = 1500)]
    transtime_ms: u32,
}

fn plans() -> Vec<(&'static str, FencePlan)> {
    let p = |src, n, when, out, end| FencePlan {
        src,
        cap_exports: n,
        when,
        watch_output: out,
        end,
    };
    use CapSource::*;
    use ExportWhen::*;
    vec![
        (
            "expbuf_before_qbuf",
            p(Mmap, 1, BeforeQbuf, false, End::Done),
        ),
        (
            "expbuf_while_running",
            p(Mmap, 1, WhileRunning, false, End::Done),
        ),
        ("several_exports", p(Mmap, 3, BeforeQbuf, false, End::Done)),
        ("output_read_usage", p(Mmap, 0, BeforeQbuf, true, End::Done)),
        ("import_dma_heap", p(Heap, 0, BeforeQbuf, false, End::Done)),
        (
            "import_udmabuf",
            p(Udmabuf, 0, BeforeQbuf, false, End::Done),
        ),
        (
            "import_v4l2_vivid",
            p(Vivid, 0, BeforeQbuf, false, End::Done),
        ),
        (
            "streamoff_mid_job",
            p(Mmap, 1, BeforeQbuf, false, End::StreamOff),
        ),
        ("close_mid_job", p(Mmap, 1, BeforeQbuf, false, End::Close)),
        (
            "reqbufs0_live_exports",
            p(Mmap, 1, BeforeQbuf, false, End::ReqBufs0),
        ),
    ]
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::env::set_var("FENCE_SUITE_TRANSTIME_MS", args.transtime_ms.to_string());
    let env = Env::new();
    let mut rows: Vec<LandingRow> = Vec::new();
    if let Err(e) = paths::open_vim2m() {
        let mut r = LandingRow {
            device: "vim2m".into(),
            path: "*".into(),
            reservation: "none".into(),
            usage: "-".into(),
            fence: "-".into(),
            ..Default::default()
        };
        r.error = format!("skipped: {e}");
        rows.push(r);
    } else {
        for (name, plan) in plans() {
            rows.push(paths::fence_path(&env, name, &plan).0);
        }
        rows.push(paths::sigkill_path(&env, "sigkill_owner").0);
    }
    if args.json {
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"device\":{},\"path\":{},\"reservation\":{},\"usage\":{},\"fence\":{},\"pending_to_signalled_ms\":{},\"error\":{}}}",
                    json_str(&r.device),
                    json_str(&r.path),
                    json_str(&r.reservation),
                    json_str(&r.usage),
                    json_str(&r.fence),
                    r.pending_to_signalled_ms
                        .map(|v| format!("{v:.3}"))
                        .unwrap_or_else(|| "null".into()),
                    json_str(&r.error)
                )
            })
            .collect();
        println!("[{}]", items.join(",\n "));
    } else {
        println!(
            "{:<8} {:<22} {:<10} {:<6} {:<28} {:>12}  error",
            "device", "path", "resv", "usage", "driver/timeline", "pend->sig ms"
        );
        for r in &rows {
            println!(
                "{:<8} {:<22} {:<10} {:<6} {:<28} {:>12}  {}",
                r.device,
                r.path,
                r.reservation,
                r.usage,
                r.fence,
                r.pending_to_signalled_ms
                    .map(|v| format!("{v:.1}"))
                    .unwrap_or_else(|| "-".into()),
                if r.error.is_empty() { "-" } else { &r.error }
            );
        }
    }
    Ok(())
}
