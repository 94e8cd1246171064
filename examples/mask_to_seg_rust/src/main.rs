//! Binary masks to polygons: the outline of every foreground region.
//!
//! Output, for mask i (in input order): a line `mask i R`, then R lines, one
//! ring each: `n x1 y1 x2 y2 ... xn yn`. Vertices lie on pixel corners
//! (pixel (x, y) covers [x, x+1] x [y, y+1]); a ring is closed implicitly.
//! Outer boundaries and hole boundaries are both rings: a pixel is foreground
//! when its centre is inside an odd number of rings (even-odd rule).

mod mask;

use mask::{read_masks, Mask};

// EVOLVE-BLOCK-START
use std::collections::HashMap;
use std::io::Write;

/// A ring of pixel-corner vertices, closed implicitly.
type Ring = Vec<(u32, u32)>;

/// Every unit edge between a foreground pixel and background (or the border),
/// directed so that foreground lies on its right (y grows downwards), then
/// chained into rings.
fn trace(mask: &Mask) -> Vec<Ring> {
    let (w, h) = (mask.width, mask.height);
    let fg = |x: i64, y: i64| x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h && mask.pixels[y as usize * w + x as usize] == 1;
    let mut edges: HashMap<(u32, u32), Vec<(u32, u32)>> = HashMap::new();
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            if !fg(x, y) {
                continue;
            }
            let (x0, y0, x1, y1) = (x as u32, y as u32, x as u32 + 1, y as u32 + 1);
            if !fg(x, y - 1) {
                edges.entry((x0, y0)).or_default().push((x1, y0));
            }
            if !fg(x + 1, y) {
                edges.entry((x1, y0)).or_default().push((x1, y1));
            }
            if !fg(x, y + 1) {
                edges.entry((x1, y1)).or_default().push((x0, y1));
            }
            if !fg(x - 1, y) {
                edges.entry((x0, y1)).or_default().push((x0, y0));
            }
        }
    }
    let mut starts: Vec<(u32, u32)> = edges.keys().copied().collect();
    starts.sort();
    let mut rings = Vec::new();
    for start in starts {
        while edges.get(&start).map_or(false, |out| !out.is_empty()) {
            let mut ring: Ring = vec![start];
            let mut at = start;
            loop {
                let next = edges.get_mut(&at).unwrap().pop().unwrap();
                if next == start {
                    break;
                }
                ring.push(next);
                at = next;
            }
            rings.push(drop_collinear(ring));
        }
    }
    rings
}

/// Removes vertices that lie on a straight line between their neighbours.
fn drop_collinear(ring: Ring) -> Ring {
    let n = ring.len();
    let mut kept = Vec::new();
    for i in 0..n {
        let (px, py) = ring[(i + n - 1) % n];
        let (x, y) = ring[i];
        let (nx, ny) = ring[(i + 1) % n];
        let straight = (px == x && x == nx) || (py == y && y == ny);
        if !straight {
            kept.push((x, y));
        }
    }
    kept
}

fn write_rings(index: usize, rings: &[Ring]) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "mask {} {}", index, rings.len()).unwrap();
    for ring in rings {
        let mut line = format!("{}", ring.len());
        for (x, y) in ring {
            line += &format!(" {} {}", x, y);
        }
        writeln!(out, "{}", line).unwrap();
    }
}

fn run(masks: &[Mask]) {
    for (index, mask) in masks.iter().enumerate() {
        let rings = trace(mask);
        write_rings(index, &rings);
    }
}
// EVOLVE-BLOCK-END

fn main() {
    let masks = match read_masks() {
        Ok(masks) => masks,
        Err(err) => {
            eprintln!("bad input: {err}");
            std::process::exit(2);
        }
    };
    run(&masks);
}
