//! Software references for the readback tests and the comparisons that
//! judge a device's bytes against them. Pure (no device): the unit tests
//! show every comparison failing on a wrong reference and on a corrupted
//! buffer, which is what makes the device tests able to fail.

use std::ops::Range;

use anyhow::{bail, Result};
use v4l2r::bindings;

/// One plane of a frame: where it lies in the buffer, and its line width
/// in bytes (to name the line and column of a mismatch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plane {
    pub name: &'static str,
    pub range: Range<usize>,
    pub line: usize,
}

impl Plane {
    /// A buffer taken as one line of `len` bytes (a bitstream).
    pub fn whole(name: &'static str, len: usize) -> Self {
        Self {
            name,
            range: 0..len,
            line: len.max(1),
        }
    }

    /// "plane Y offset 1234 (line 1, byte 594)".
    fn at(&self, off: usize) -> String {
        format!(
            "plane {} offset {off} (line {}, byte {})",
            self.name,
            off / self.line,
            off % self.line
        )
    }
}

/// Exactly `expected`, byte for byte. The error names the first byte that
/// differs and how many do.
pub fn compare_exact(plane: &Plane, expected: &[u8], found: &[u8]) -> Result<()> {
    if found.len() != expected.len() {
        bail!(
            "plane {}: {} bytes, expected {}",
            plane.name,
            found.len(),
            expected.len()
        );
    }
    let mut diffs = expected
        .iter()
        .zip(found)
        .enumerate()
        .filter(|(_, (e, f))| e != f);
    if let Some((off, (e, f))) = diffs.next() {
        bail!(
            "{}: expected 0x{e:02x} found 0x{f:02x} ({} of {} bytes differ)",
            plane.at(off),
            1 + diffs.count(),
            expected.len()
        );
    }
    Ok(())
}

/// How far a lossy round trip may move the samples: no sample by more than
/// `max_abs`, and all of them together by at most `max_sum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorBound {
    pub max_abs: u8,
    pub max_sum: u64,
}

/// What a round trip actually moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorStats {
    pub max_abs: u8,
    pub sum_abs: u64,
    pub samples: usize,
}

impl ErrorStats {
    pub fn mean(&self) -> f64 {
        self.sum_abs as f64 / self.samples.max(1) as f64
    }
}

/// `found` against `source` over `planes`, within `bound`. The error names
/// the first sample past `max_abs` (or, when only the sum is too large, the
/// first sample that differs at all), with both values.
pub fn compare_within(
    planes: &[Plane],
    source: &[u8],
    found: &[u8],
    bound: ErrorBound,
) -> Result<ErrorStats> {
    if found.len() != source.len() {
        bail!("{} bytes, the source has {}", found.len(), source.len());
    }
    let mut stats = ErrorStats::default();
    let mut first_diff: Option<String> = None;
    for plane in planes {
        let (Some(src), Some(got)) = (
            source.get(plane.range.clone()),
            found.get(plane.range.clone()),
        ) else {
            bail!(
                "plane {} ({:?}) lies outside the {}-byte frame",
                plane.name,
                plane.range,
                source.len()
            );
        };
        for (off, (&s, &f)) in src.iter().zip(got).enumerate() {
            let d = s.abs_diff(f);
            if d > bound.max_abs {
                bail!(
                    "{}: source {s} decoded {f}, error {d} > {} allowed",
                    plane.at(off),
                    bound.max_abs
                );
            }
            if d != 0 && first_diff.is_none() {
                first_diff = Some(format!("{}: source {s} decoded {f}", plane.at(off)));
            }
            stats.max_abs = stats.max_abs.max(d);
            stats.sum_abs += u64::from(d);
            stats.samples += 1;
        }
    }
    if stats.sum_abs > bound.max_sum {
        bail!(
            "total error {} > {} allowed (mean {:.3} over {} samples); first difference at {}",
            stats.sum_abs,
            bound.max_sum,
            stats.mean(),
            stats.samples,
            first_diff.unwrap_or_default()
        );
    }
    Ok(stats)
}

/// The three planes of a YU12 (I420) frame of `w` x `h`.
pub fn yu12_planes(w: usize, h: usize) -> [Plane; 3] {
    let (y, c) = (w * h, (w / 2) * (h / 2));
    [
        Plane {
            name: "Y",
            range: 0..y,
            line: w,
        },
        Plane {
            name: "Cb",
            range: y..y + c,
            line: w / 2,
        },
        Plane {
            name: "Cr",
            range: y + c..y + 2 * c,
            line: w / 2,
        },
    ]
}

/// vicodec's transform block: codec-fwht.c codes every plane in 8x8 blocks
/// aligned to the plane's origin.
const FWHT_BLOCK: usize = 8;
/// Amplitude of the checkerboard added to every other block.
pub const FWHT_CHECKER: u8 = 3;

/// A YU12 frame for the FWHT round trip and the error the round trip may
/// add to it.
pub struct FwhtSource {
    pub frame: Vec<u8>,
    pub bound: ErrorBound,
}

/// Each 8x8 block of each plane is a ramp `p + a*i + b*j` (i the column, j
/// the line in the block; p in 48..=200, a and b in -2..=2, all varying
/// from block to block), and every other block (by checkerboard of blocks)
/// also carries `±FWHT_CHECKER * (-1)^(i+j)`. All samples lie in 17..=231.
///
/// Why the bound is exact, from codec-fwht.c (intra frame, QP 1): the
/// unnormalised 8x8 Walsh-Hadamard transform of a ramp has non-zero
/// coefficients only in the block's first row and column (DC: 64(p-128) +
/// 224(a+b); the others ±32a·2^m, ±32b·2^m for m in 0..3), all multiples of
/// 32. quant_table divides the first row and column by 4 (>> 2), which
/// loses nothing on a multiple of 32, and the dead zone (|c >> 2| <= QP)
/// keeps every one of them at QP 1 (|c >> 2| >= 8). So the decoder gets the
/// ramp back exactly. The checkerboard is the single coefficient 64·s at
/// (7, 7), which quant_table divides by 256: |64·3 >> 8| <= 1 = QP, so the
/// dead zone drops it and the decoder returns the ramp without it. Hence
/// the error is exactly 3 on the checkered blocks and 0 elsewhere: max 3,
/// sum 3 per checkered sample (mean 1.5, PSNR 41.6 dB). Measured with
/// vicodec's codec-fwht.c of 7.2.13 built in userspace (encode at I-frame
/// QP 1, decode): the decoded frame is the source minus the checkerboard,
/// to the sample, at any QP from 1 to 7; at the default QP 20 the ramps
/// lose their small coefficients too (max error 7, mean 2.03), so the
/// bound also shows that the QP control took effect. A decoder that
/// writes anything else (zeroes, a stale frame, another frame, the planes
/// shifted by a block) is off by far more than 3 somewhere, and the sum
/// catches a wholesale error of up to 3.
pub fn fwht_source_yu12(w: usize, h: usize) -> FwhtSource {
    let mut frame = Vec::with_capacity(w * h * 3 / 2);
    let mut checkered = 0u64;
    for (pi, plane) in yu12_planes(w, h).iter().enumerate() {
        let pw = plane.line;
        let ph = plane.range.len() / pw;
        for y in 0..ph {
            for x in 0..pw {
                let (bx, by) = (x / FWHT_BLOCK, y / FWHT_BLOCK);
                let (i, j) = ((x % FWHT_BLOCK) as i32, (y % FWHT_BLOCK) as i32);
                let seed = block_seed(pi, bx, by);
                let p = 48 + (seed % 153) as i32;
                let a = ((seed >> 8) % 5) as i32 - 2;
                let b = ((seed >> 12) % 5) as i32 - 2;
                let mut v = p + a * i + b * j;
                if (bx + by) % 2 == 0 {
                    let s = i32::from(FWHT_CHECKER);
                    v += if (i + j) % 2 == 0 { s } else { -s };
                    checkered += 1;
                }
                frame.push(v as u8);
            }
        }
    }
    FwhtSource {
        frame,
        bound: ErrorBound {
            max_abs: FWHT_CHECKER,
            max_sum: checkered * u64::from(FWHT_CHECKER),
        },
    }
}

/// A deterministic, well-mixed number per block (no two neighbours alike).
fn block_seed(plane: usize, bx: usize, by: usize) -> u32 {
    let mut s = (plane as u32).wrapping_mul(0x9e37_79b9)
        ^ (bx as u32).wrapping_mul(0x85eb_ca6b)
        ^ (by as u32).wrapping_mul(0xc2b2_ae35);
    s ^= s >> 15;
    s = s.wrapping_mul(0x2c1b_3c6d);
    s ^ (s >> 12)
}

/// The FWHT header flags the round trip relies on: an intra frame of three
/// 4:2:0 YUV components, every plane transform coded (a plane the encoder
/// had to store raw would make the decode comparison trivially lossless).
pub fn check_fwht_intra_coded(frame: &[u8]) -> Result<()> {
    const FLAGS_AT: usize = 20;
    let Some(f) = frame.get(FLAGS_AT..FLAGS_AT + 4) else {
        bail!("{} bytes: no FWHT header flags", frame.len());
    };
    let flags = u32::from_be_bytes([f[0], f[1], f[2], f[3]]);
    let refused = (bindings::V4L2_FWHT_FL_LUMA_IS_UNCOMPRESSED
        | bindings::V4L2_FWHT_FL_CB_IS_UNCOMPRESSED
        | bindings::V4L2_FWHT_FL_CR_IS_UNCOMPRESSED
        | bindings::V4L2_FWHT_FL_CHROMA_FULL_HEIGHT
        | bindings::V4L2_FWHT_FL_CHROMA_FULL_WIDTH) as u32;
    let i_frame = bindings::V4L2_FWHT_FL_I_FRAME as u32;
    let components = 1
        + ((flags & bindings::V4L2_FWHT_FL_COMPONENTS_NUM_MSK)
            >> bindings::V4L2_FWHT_FL_COMPONENTS_NUM_OFFSET);
    let pixenc = flags & bindings::V4L2_FWHT_FL_PIXENC_MSK;
    if flags & i_frame == 0
        || flags & refused != 0
        || components != 3
        || pixenc != bindings::V4L2_FWHT_FL_PIXENC_YUV
    {
        bail!(
            "FWHT header flags 0x{flags:08x}: expected an intra frame (0x{i_frame:x}) of 3 \
             YUV 4:2:0 components, none stored uncompressed"
        );
    }
    Ok(())
}

/// A Y'CbCr triple as vivid's test pattern generator writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YCbCr {
    pub y: u8,
    pub cb: u8,
    pub cr: u8,
}

/// An 8-bit R'G'B' colour in limited-range BT.601 Y'CbCr, computed the way
/// v4l2-tpg-core.c does (color_to_ycbcr() with the bt601 matrix, then
/// precalculate_color()): the colour scaled to 12 bits (<< 4), matrix
/// coefficients rounded to 16.16 fixed point, products shifted right by
/// 16, offsets 16 and 128 added in 12 bits, then >> 4 and clamped to
/// 16..=235 / 16..=240. The rounding differs from the textbook formula:
/// 100% white comes out as Y 234, not 235.
pub fn tpg_bt601_limited(r: u8, g: u8, b: u8) -> YCbCr {
    // COEFF(v, r) of v4l2-tpg-core.c; `as` truncates toward zero like C.
    fn coeff(v: f64, range: f64) -> i32 {
        (0.5 + v * range * 256.0) as i32
    }
    let m = [
        [
            coeff(0.299, 219.0),
            coeff(0.587, 219.0),
            coeff(0.114, 219.0),
        ],
        [
            coeff(-0.1687, 224.0),
            coeff(-0.3313, 224.0),
            coeff(0.5, 224.0),
        ],
        [
            coeff(0.5, 224.0),
            coeff(-0.4187, 224.0),
            coeff(-0.0813, 224.0),
        ],
    ];
    let (r, g, b) = (i32::from(r) << 4, i32::from(g) << 4, i32::from(b) << 4);
    let row =
        |k: usize, offset: i32| ((m[k][0] * r + m[k][1] * g + m[k][2] * b) >> 16) + (offset << 4);
    let y = (row(0, 16) >> 4).clamp(16, 235);
    let cb = (row(1, 128) >> 4).clamp(16, 240);
    let cr = (row(2, 128) >> 4).clamp(16, 240);
    YCbCr {
        y: y as u8,
        cb: cb as u8,
        cr: cr as u8,
    }
}

/// The two memory planes of an NV12M frame of `w` x `h` filled with one
/// colour, lines `w` bytes long: luma, then Cb,Cr pairs at half height.
pub fn nv12m_solid(w: usize, h: usize, c: YCbCr) -> [Vec<u8>; 2] {
    let luma = vec![c.y; w * h];
    let chroma = [c.cb, c.cr].repeat(w / 2 * (h / 2));
    [luma, chroma]
}

/// The two planes of an NV12M frame of `w` x `h` as `Plane`s of their own
/// buffers.
pub fn nv12m_planes(w: usize, h: usize) -> [Plane; 2] {
    [
        Plane {
            name: "Y",
            range: 0..w * h,
            line: w,
        },
        Plane {
            name: "CbCr",
            range: 0..w * (h / 2),
            line: w,
        },
    ]
}

/// A size (width, height) at which vim2m takes `len` bytes as one RGB24
/// frame: width even and within 32..=640, height within 32..=480 (vim2m.c
/// MIN_W/MAX_W/MIN_H/MAX_H, WIDTH_ALIGN), the tallest such.
pub fn vim2m_rgb24_shape(len: usize) -> Option<(u32, u32)> {
    if len % 3 != 0 {
        return None;
    }
    let pixels = len / 3;
    (32..=480usize).rev().find_map(|h| {
        let w = pixels / h;
        (pixels % h == 0 && w % 2 == 0 && (32..=640).contains(&w)).then_some((w as u32, h as u32))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 640;
    const H: usize = 480;

    /// What the FWHT analysis says the decoder returns: the source with the
    /// checkerboard taken out.
    fn predicted_decode(src: &[u8]) -> Vec<u8> {
        let mut out = src.to_vec();
        for plane in yu12_planes(W, H) {
            for (off, v) in out[plane.range.clone()].iter_mut().enumerate() {
                let (x, y) = (off % plane.line, off / plane.line);
                if (x / FWHT_BLOCK + y / FWHT_BLOCK) % 2 == 0 {
                    let s = FWHT_CHECKER as i32;
                    let c = if (x + y) % 2 == 0 { s } else { -s };
                    *v = (i32::from(*v) - c) as u8;
                }
            }
        }
        out
    }

    #[test]
    fn fwht_source_is_in_range_and_varied() {
        let s = fwht_source_yu12(W, H);
        assert_eq!(s.frame.len(), W * H * 3 / 2);
        assert!(s.frame.iter().all(|&v| (17..=231).contains(&v)));
        // Neighbouring blocks differ (a shift by one block is visible).
        let y = &s.frame[..W * H];
        assert_ne!(y[..8], y[8..16]);
        assert_ne!(y[..8], y[8 * W..8 * W + 8]);
        // Half the samples are checkered.
        assert_eq!(s.bound.max_sum, 3 * (W * H * 3 / 2 / 2) as u64);
    }

    #[test]
    fn fwht_predicted_decode_is_within_the_bound_and_tight() {
        let s = fwht_source_yu12(W, H);
        let dec = predicted_decode(&s.frame);
        let st = compare_within(&yu12_planes(W, H), &s.frame, &dec, s.bound).expect("within");
        assert_eq!(st.max_abs, FWHT_CHECKER);
        assert_eq!(
            st.sum_abs, s.bound.max_sum,
            "the bound is the predicted error"
        );
        assert!((st.mean() - 1.5).abs() < 1e-9);
    }

    #[test]
    fn fwht_garbage_fails() {
        let s = fwht_source_yu12(W, H);
        let planes = yu12_planes(W, H);
        let dec = predicted_decode(&s.frame);
        // Nothing written (the buffer's zeroes).
        let e = compare_within(&planes, &s.frame, &vec![0; dec.len()], s.bound).unwrap_err();
        assert!(format!("{e}").contains("plane Y offset 0"), "{e}");
        // One sample corrupted, in the Cr plane.
        let mut bad = dec.clone();
        let off = planes[2].range.start + 5 * (W / 2) + 7;
        bad[off] ^= 0x40;
        let e = compare_within(&planes, &s.frame, &bad, s.bound).unwrap_err();
        assert!(
            format!("{e}").contains("plane Cr offset 1607 (line 5, byte 7)"),
            "{e}"
        );
        // The planes shifted by one block.
        let mut shifted = dec.clone();
        shifted.rotate_right(8);
        assert!(compare_within(&planes, &s.frame, &shifted, s.bound).is_err());
        // A wrong reference: another frame's source.
        let mut other = s.frame.clone();
        other.reverse();
        assert!(compare_within(&planes, &other, &dec, s.bound).is_err());
        // Within max_abs everywhere, but more error in total than the codec
        // adds: every sample off by 2.
        let all2: Vec<u8> = s.frame.iter().map(|v| v - 2).collect();
        let e = compare_within(&planes, &s.frame, &all2, s.bound).unwrap_err();
        assert!(format!("{e}").contains("total error"), "{e}");
        // A truncated frame.
        assert!(compare_within(&planes, &s.frame, &dec[..dec.len() - 1], s.bound).is_err());
    }

    fn header_with_flags(flags: u32) -> Vec<u8> {
        let mut h = vec![0u8; 44];
        h[20..24].copy_from_slice(&flags.to_be_bytes());
        h
    }

    #[test]
    fn fwht_intra_coded_flags() {
        let yuv420_intra = (bindings::V4L2_FWHT_FL_I_FRAME as u32)
            | (2 << bindings::V4L2_FWHT_FL_COMPONENTS_NUM_OFFSET)
            | bindings::V4L2_FWHT_FL_PIXENC_YUV;
        assert!(check_fwht_intra_coded(&header_with_flags(yuv420_intra)).is_ok());
        let p_frame = yuv420_intra & !(bindings::V4L2_FWHT_FL_I_FRAME as u32);
        assert!(check_fwht_intra_coded(&header_with_flags(p_frame)).is_err());
        let raw_luma = yuv420_intra | bindings::V4L2_FWHT_FL_LUMA_IS_UNCOMPRESSED as u32;
        assert!(check_fwht_intra_coded(&header_with_flags(raw_luma)).is_err());
        let grey = yuv420_intra & !bindings::V4L2_FWHT_FL_COMPONENTS_NUM_MSK;
        assert!(check_fwht_intra_coded(&header_with_flags(grey)).is_err());
        assert!(check_fwht_intra_coded(&[0u8; 10]).is_err());
    }

    #[test]
    fn tpg_colours_by_hand() {
        // Worked through v4l2-tpg-core.c's arithmetic by hand: red is
        // Y (16763·4080 >> 16) + 256 = 1299 >> 4 = 81, Cb (-9673·4080 >> 16)
        // + 2048 = 1445 >> 4 = 90, Cr (28672·4080 >> 16) + 2048 = 3833 >> 4
        // = 239; white's luma coefficients sum to 56064: Y 3746 >> 4 = 234.
        let red = tpg_bt601_limited(255, 0, 0);
        assert_eq!(
            red,
            YCbCr {
                y: 81,
                cb: 90,
                cr: 239
            }
        );
        let white = tpg_bt601_limited(255, 255, 255);
        assert_eq!(
            white,
            YCbCr {
                y: 234,
                cb: 128,
                cr: 128
            }
        );
        let black = tpg_bt601_limited(0, 0, 0);
        assert_eq!(
            black,
            YCbCr {
                y: 16,
                cb: 128,
                cr: 128
            }
        );
    }

    #[test]
    fn tpg_colours_within_one_of_the_textbook() {
        // BT.601 limited range in floating point: the fixed-point result
        // truncates twice (>> 16, >> 4: up to 1 + 1/16 below) and its
        // coefficients are rounded (a few tenths either way).
        for (r, g, b) in [
            (255, 0, 0),
            (0, 255, 0),
            (0, 0, 255),
            (255, 255, 0),
            (191, 191, 191),
        ] {
            let (rf, gf, bf) = (
                f64::from(r) / 255.0,
                f64::from(g) / 255.0,
                f64::from(b) / 255.0,
            );
            let y = 16.0 + 219.0 * (0.299 * rf + 0.587 * gf + 0.114 * bf);
            let cb = 128.0 + 224.0 * (-0.1687 * rf - 0.3313 * gf + 0.5 * bf);
            let cr = 128.0 + 224.0 * (0.5 * rf - 0.4187 * gf - 0.0813 * bf);
            let c = tpg_bt601_limited(r, g, b);
            for (got, want) in [(c.y, y), (c.cb, cb), (c.cr, cr)] {
                let off = (want - f64::from(got)).abs();
                assert!(off < 1.1, "{r},{g},{b}: {got} vs {want:.2}");
            }
        }
    }

    #[test]
    fn nv12m_solid_layout() {
        let red = tpg_bt601_limited(255, 0, 0);
        let [y, c] = nv12m_solid(640, 360, red);
        let planes = nv12m_planes(640, 360);
        assert_eq!(y.len(), planes[0].range.len());
        assert_eq!(c.len(), planes[1].range.len());
        assert!(y.iter().all(|&v| v == 81));
        assert_eq!(c[..4], [90, 239, 90, 239]);
    }

    #[test]
    fn exact_comparison_fails_on_garbage() {
        let red = tpg_bt601_limited(255, 0, 0);
        let [y, c] = nv12m_solid(640, 360, red);
        let [py, pc] = nv12m_planes(640, 360);
        assert!(compare_exact(&py, &y, &y).is_ok());
        assert!(compare_exact(&pc, &c, &c).is_ok());
        // Nothing written.
        let e = compare_exact(&py, &y, &vec![0; y.len()]).unwrap_err();
        assert_eq!(
            format!("{e}"),
            "plane Y offset 0 (line 0, byte 0): expected 0x51 found 0x00 \
             (230400 of 230400 bytes differ)"
        );
        // One byte corrupted.
        let mut bad = c.clone();
        bad[641] = 0;
        let e = compare_exact(&pc, &c, &bad).unwrap_err();
        assert_eq!(
            format!("{e}"),
            "plane CbCr offset 641 (line 1, byte 1): expected 0xef found 0x00 \
             (1 of 115200 bytes differ)"
        );
        // Cb and Cr swapped (NV21 written for NV12).
        let nv21: Vec<u8> = c.chunks(2).flat_map(|p| [p[1], p[0]]).collect();
        assert!(compare_exact(&pc, &c, &nv21).is_err());
        // A wrong reference: white instead of red.
        let [wy, _] = nv12m_solid(640, 360, tpg_bt601_limited(255, 255, 255));
        assert!(compare_exact(&py, &wy, &y).is_err());
        // Short.
        assert!(compare_exact(&py, &y, &y[1..]).is_err());
    }

    #[test]
    fn vim2m_shapes() {
        assert_eq!(vim2m_rgb24_shape(640 * 360), Some((160, 480)));
        assert_eq!(vim2m_rgb24_shape(640 * 180), Some((80, 480)));
        assert_eq!(vim2m_rgb24_shape(100), None);
        // 3 * 7 * 4099 pixels: no width fits.
        assert_eq!(vim2m_rgb24_shape(3 * 7 * 4099), None);
    }
}
