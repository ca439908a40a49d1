//! Flame graphs of folded stacks: an SVG drawn here (in the manner of flamegraph.pl: the root at the
//! bottom, callees above their callers, siblings in name order, width by samples, a tooltip per frame),
//! and speedscope's file format. Pure.
//!
//! Why not the `inferno` crate: it is CDDL-1.0, a file-level copyleft that asks anyone who ships a binary
//! built with it to offer its source and keep its notices; Orbit is Apache-2.0 and ships one binary, and
//! what it needs of inferno (a static SVG of a few thousand stacks) is a hundred lines.

use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Stacks, root first, with their samples: `(["main", "a", "b"], 6)`.
pub type Stacks = Vec<(Vec<String>, u64)>;

const WIDTH: f64 = 1200.0;
const PAD: f64 = 10.0;
const FRAME_HEIGHT: f64 = 16.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 24.0;
/// Frames narrower than this (pixels) are not drawn.
const MIN_WIDTH: f64 = 0.1;
/// Average width of a character of the 12 px font, for cutting labels.
const CHAR_WIDTH: f64 = 7.0;

#[derive(Debug, Default)]
struct Frame {
    value: u64,
    children: BTreeMap<String, Frame>,
}

impl Frame {
    fn depth(&self) -> usize {
        self.children.values().map(|c| 1 + c.depth()).max().unwrap_or(0)
    }
}

fn tree(stacks: &[(Vec<String>, u64)]) -> Frame {
    let mut root = Frame::default();
    for (frames, count) in stacks {
        root.value += count;
        let mut at = &mut root;
        for f in frames {
            at = at.children.entry(f.clone()).or_default();
            at.value += count;
        }
    }
    root
}

/// An SVG flame graph of `stacks` (root first), titled `title`.
pub fn svg(stacks: &[(Vec<String>, u64)], title: &str) -> String {
    let root = tree(stacks);
    let depth = root.depth();
    let height = TOP + (depth as f64 + 1.0) * FRAME_HEIGHT + BOTTOM;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg" font-family="Verdana, sans-serif" font-size="12">
<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#f8f8f8"/>
<text x="{x}" y="24" text-anchor="middle" font-size="17">{title}</text>
<text x="{x}" y="{sub}" text-anchor="middle" fill="#555">{samples} samples · hover a frame for its count · width is time on the CPU</text>
"##,
        x = WIDTH / 2.0,
        sub = height - 8.0,
        title = escape(title),
        samples = super::model::thousands(root.value),
    );
    if root.value == 0 {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">no samples: no process was on the CPU in the profiled code</text>"#,
            WIDTH / 2.0,
            TOP + FRAME_HEIGHT
        );
    } else {
        let scale = (WIDTH - 2.0 * PAD) / root.value as f64;
        let base = TOP + depth as f64 * FRAME_HEIGHT;
        draw(&mut out, "all", &root, root.value, PAD, base, scale);
        draw_children(&mut out, &root, root.value, PAD, base - FRAME_HEIGHT, scale);
    }
    out.push_str("</svg>\n");
    out
}

fn draw_children(out: &mut String, parent: &Frame, total: u64, x0: f64, y: f64, scale: f64) {
    let mut x = x0;
    for (name, child) in &parent.children {
        let w = child.value as f64 * scale;
        if w >= MIN_WIDTH {
            draw(out, name, child, total, x, y, scale);
            draw_children(out, child, total, x, y - FRAME_HEIGHT, scale);
        }
        x += w;
    }
}

fn draw(out: &mut String, name: &str, f: &Frame, total: u64, x: f64, y: f64, scale: f64) {
    let w = f.value as f64 * scale;
    let (r, g, b) = colour(name);
    let pct = f.value as f64 * 100.0 / total as f64;
    let _ = write!(
        out,
        "<g><title>{} ({} samples, {:.2}%)</title><rect x=\"{x:.2}\" y=\"{y:.1}\" width=\"{:.2}\" height=\"{}\" fill=\"rgb({r},{g},{b})\" rx=\"2\"/>",
        escape(name),
        super::model::thousands(f.value),
        pct,
        (w - 0.5).max(0.1),
        FRAME_HEIGHT - 1.0,
    );
    let fits = ((w - 6.0) / CHAR_WIDTH).floor();
    if fits >= 3.0 {
        let n = fits as usize;
        let label: String = if name.chars().count() <= n {
            name.to_string()
        } else {
            name.chars().take(n.saturating_sub(2)).collect::<String>() + ".."
        };
        let _ = write!(out, "<text x=\"{:.2}\" y=\"{:.1}\">{}</text>", x + 3.0, y + FRAME_HEIGHT - 4.5, escape(&label));
    }
    out.push_str("</g>\n");
}

/// A warm colour that depends on the name only, so a function has the same colour in every graph.
fn colour(name: &str) -> (u8, u8, u8) {
    // FNV-1a.
    let mut h: u32 = 0x811c9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x01000193);
    }
    (205 + (h % 50) as u8, ((h >> 8) % 190) as u8 + 40, ((h >> 16) % 55) as u8)
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// A speedscope file with one sampled profile per `(name, stacks)`, frames shared.
pub fn speedscope(name: &str, profiles: &[(String, Stacks)]) -> serde_json::Value {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut frames: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (pname, stacks) in profiles {
        let mut samples = Vec::new();
        let mut weights = Vec::new();
        for (stack, count) in stacks {
            let ids: Vec<usize> = stack
                .iter()
                .map(|f| {
                    *index.entry(f.as_str()).or_insert_with(|| {
                        frames.push(f.as_str());
                        frames.len() - 1
                    })
                })
                .collect();
            samples.push(ids);
            weights.push(*count);
        }
        let total: u64 = weights.iter().sum();
        out.push(json!({
            "type": "sampled",
            "name": pname,
            "unit": "none",
            "startValue": 0,
            "endValue": total,
            "samples": samples,
            "weights": weights,
        }));
    }
    json!({
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "name": name,
        "exporter": concat!("orbit ", env!("CARGO_PKG_VERSION")),
        "activeProfileIndex": 0,
        "shared": { "frames": frames.iter().map(|f| json!({ "name": f })).collect::<Vec<_>>() },
        "profiles": out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stacks() -> Stacks {
        let s = |v: &[&str], n| (v.iter().map(|x| x.to_string()).collect::<Vec<_>>(), n);
        vec![s(&["main", "a", "b"], 6), s(&["main", "a"], 2), s(&["main", "c<&>"], 2)]
    }

    #[test]
    fn the_svg_has_a_frame_per_function_sized_by_samples() {
        let svg = svg(&stacks(), "Bank <demo>");
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("Bank &lt;demo&gt;"));
        assert!(svg.contains("<title>all (10 samples, 100.00%)</title>"), "{svg}");
        assert!(svg.contains("<title>a (8 samples, 80.00%)</title>"), "{svg}");
        assert!(svg.contains("<title>b (6 samples, 60.00%)</title>"), "{svg}");
        assert!(svg.contains("<title>c&lt;&amp;&gt; (2 samples, 20.00%)</title>"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 1 + 5, "background and five frames");
        // b sits above a, which sits above main, which sits above all.
        let y = |name: &str| -> f64 {
            let at = svg.find(&format!("<title>{name} (")).unwrap();
            let rest = &svg[at..];
            let y = rest.find(" y=\"").unwrap() + 4;
            rest[y..y + rest[y..].find('"').unwrap()].parse().unwrap()
        };
        assert!(y("b") < y("a") && y("a") < y("main") && y("main") < y("all"));
        // The XML is well formed enough for a strict reader: every tag closes.
        assert_eq!(svg.matches("<g>").count(), svg.matches("</g>").count());
    }

    #[test]
    fn an_empty_profile_says_so() {
        let svg = svg(&[], "x");
        assert!(svg.contains("no samples"), "{svg}");
    }

    #[test]
    fn speedscope_shares_frames_between_profiles() {
        let v = speedscope("demo", &[("cluster".into(), stacks()), ("a@h".into(), stacks()[..1].to_vec())]);
        assert_eq!(v["$schema"], "https://www.speedscope.app/file-format-schema.json");
        let frames: Vec<&str> =
            v["shared"]["frames"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(frames, ["main", "a", "b", "c<&>"]);
        assert_eq!(v["profiles"][0]["type"], "sampled");
        assert_eq!(v["profiles"][0]["samples"][0], json!([0, 1, 2]));
        assert_eq!(v["profiles"][0]["weights"], json!([6, 2, 2]));
        assert_eq!(v["profiles"][0]["endValue"], 10);
        assert_eq!(v["profiles"][1]["name"], "a@h");
        assert_eq!(v["profiles"][1]["samples"], json!([[0, 1, 2]]));
    }
}
