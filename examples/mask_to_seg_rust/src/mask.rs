//! The input format, fixed by the task (this file does not evolve).
//!
//! Standard input holds `N`, then N masks; each mask is a line `W H` and H
//! lines of W characters, `1` for foreground and `0` for background.

use std::io::{self, Read};

/// One binary mask: `pixels[y * width + x]` is 1 for foreground, 0 for background.
pub struct Mask {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Reads every mask from standard input.
pub fn read_masks() -> io::Result<Vec<Mask>> {
    let mut input = Vec::new();
    io::stdin().lock().read_to_end(&mut input)?;
    let mut lines = input
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty());
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let count = parse_numbers(lines.next().ok_or_else(|| bad("missing mask count"))?);
    let count = *count.first().ok_or_else(|| bad("missing mask count"))?;
    let mut masks = Vec::with_capacity(count);
    for _ in 0..count {
        let size = parse_numbers(lines.next().ok_or_else(|| bad("missing mask size"))?);
        if size.len() != 2 {
            return Err(bad("mask size must be `W H`"));
        }
        let (width, height) = (size[0], size[1]);
        let mut pixels = Vec::with_capacity(width * height);
        for _ in 0..height {
            let row = lines.next().ok_or_else(|| bad("missing mask row"))?;
            if row.len() != width {
                return Err(bad("mask row of the wrong length"));
            }
            pixels.extend(row.iter().map(|&c| (c == b'1') as u8));
        }
        masks.push(Mask { width, height, pixels });
    }
    Ok(masks)
}

fn parse_numbers(line: &[u8]) -> Vec<usize> {
    line.split(|b| b.is_ascii_whitespace())
        .filter(|word| !word.is_empty())
        .filter_map(|word| std::str::from_utf8(word).ok()?.parse().ok())
        .collect()
}
