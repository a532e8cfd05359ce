//! The frames the suite feeds its devices, and what comes out: generated
//! patterns, vim2m's conversion done in software, the FWHT header vicodec's
//! encoder writes, and `Reference`, which judges a completed CAPTURE
//! buffer.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// The frame vim2m converts: small, so that a software reference is cheap.
pub const VIM2M_W: u32 = 64;
pub const VIM2M_H: u32 = 48;
/// The RGA's test frame: RGB24 lines of 960 bytes, a multiple of every
/// stride alignment its variants ask for, so sizeimage is exactly w*h*3.
pub const RGA_W: u32 = 320;
pub const RGA_H: u32 = 240;
/// vicodec clamps to at least 640x360 (MIN_WIDTH/MIN_HEIGHT in
/// vicodec-core.c) and rounds both dimensions up to its 8x8 block
/// (vic_round_dim: 360 becomes 368), so the raw frames are 640x480, a size
/// it takes unchanged.
pub const VICODEC_W: u32 = 640;
pub const VICODEC_H: u32 = 480;
/// `struct fwht_cframe_hdr` (codec-fwht.h): eleven 32-bit fields.
pub const FWHT_HDR_LEN: usize = 44;
/// FWHT_MAGIC1, FWHT_MAGIC2 (codec-fwht.h) as they appear in the stream.
pub const FWHT_MAGIC: [u8; 8] = [0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff];

/// A complete FWHT frame (codec-fwht.h) of `w`x`h`: version 3 (the one
/// vicodec writes), YUV with three components and both chroma planes
/// subsampled (4:2:0), then `payload` zero bytes. vicodec's stateful
/// decoder accepts its header (is_header_valid()), so a size other than
/// its CAPTURE format's is a source change.
pub fn fwht_yuv420_frame(w: u32, h: u32, payload: u32) -> Vec<u8> {
    use v4l2r::bindings::{
        V4L2_FWHT_FL_COMPONENTS_NUM_OFFSET, V4L2_FWHT_FL_PIXENC_YUV, V4L2_FWHT_VERSION,
    };
    let flags = (3 - 1) << V4L2_FWHT_FL_COMPONENTS_NUM_OFFSET | V4L2_FWHT_FL_PIXENC_YUV;
    let mut v = FWHT_MAGIC.to_vec();
    // version, width, height, flags, colorspace, xfer_func, ycbcr_enc,
    // quantization, size: big-endian.
    for f in [V4L2_FWHT_VERSION, w, h, flags, 0, 0, 0, 0, payload] {
        v.extend_from_slice(&f.to_be_bytes());
    }
    v.resize(FWHT_HDR_LEN + payload as usize, 0);
    v
}

/// Deterministic RGB24 test frame.
pub fn pattern_rgb24(w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            v.push((x * 4 + y + 1) as u8);
            v.push(((y * 5 + x * 3) ^ 0x5a) as u8);
            v.push(((x ^ y) * 7 + 3) as u8);
        }
    }
    v
}

/// vim2m's RGB24 -> YUYV conversion (copy_two_pixels in vim2m.c): Y from
/// each pixel, U and V both from the first pixel of the pair.
pub fn vim2m_rgb24_to_yuyv(rgb: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((w * h * 2) as usize);
    for y in 0..h as usize {
        for x in (0..w as usize).step_by(2) {
            let p0 = &rgb[(y * w as usize + x) * 3..][..3];
            let p1 = &rgb[(y * w as usize + x + 1) * 3..][..3];
            let (r, g, b) = (i32::from(p0[0]), i32::from(p0[1]), i32::from(p0[2]));
            let (r1, g1, b1) = (i32::from(p1[0]), i32::from(p1[1]), i32::from(p1[2]));
            let yy = (8453 * r + 16594 * g + 3223 * b + 524288) >> 15;
            let u = (-4878 * r - 9578 * g + 14456 * b + 4210688) >> 15;
            let v = (14456 * r - 12105 * g - 2351 * b + 4210688) >> 15;
            let y1 = (8453 * r1 + 16594 * g1 + 3223 * b1 + 524288) >> 15;
            out.extend_from_slice(&[yy as u8, u as u8, y1 as u8, v as u8]);
        }
    }
    out
}

pub fn sha256_hex(d: &[u8]) -> String {
    Sha256::digest(d)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic YUV420 (YU12) frame: smooth gradients, so that FWHT has
/// something to compress.
pub fn pattern_yuv420(w: u32, h: u32) -> Vec<u8> {
    let (w, h) = (w as usize, h as usize);
    let mut v = Vec::with_capacity(w * h * 3 / 2);
    for y in 0..h {
        for x in 0..w {
            v.push(((x + 2 * y) / 4) as u8);
        }
    }
    for plane in 0..2usize {
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                v.push((64 + plane * 64 + (x + y) / 8) as u8);
            }
        }
    }
    v
}

fn be32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_be_bytes(a)
}

/// A compressed frame as vicodec's encoder writes it (v4l2_fwht_encode()):
/// the magic, the visible size, and a payload size that accounts for
/// exactly the bytes DQBUF reported.
pub fn check_fwht_frame(got: &[u8], w: u32, h: u32) -> Result<()> {
    if got.len() <= FWHT_HDR_LEN {
        bail!(
            "{} bytes: not even an FWHT header ({FWHT_HDR_LEN} bytes) and payload",
            got.len()
        );
    }
    if got[..8] != FWHT_MAGIC {
        bail!("no FWHT magic: starts with {:02x?}", &got[..8]);
    }
    let (fw, fh, size) = (be32(got, 12), be32(got, 16), be32(got, 40));
    if (fw, fh) != (w, h) {
        bail!("FWHT header says {fw}x{fh}, the frame was {w}x{h}");
    }
    if size as usize + FWHT_HDR_LEN != got.len() {
        bail!(
            "FWHT header size {size} + {FWHT_HDR_LEN} != bytesused {}",
            got.len()
        );
    }
    Ok(())
}

/// What a completed CAPTURE buffer must hold.
#[derive(Clone, Debug)]
pub enum Reference {
    /// Exactly these bytes (vim2m: a software reference).
    Exact(Vec<u8>),
    /// A well-formed FWHT frame of this visible size (vicodec encoder; the
    /// bytes themselves are compared between views and runs instead).
    Fwht { w: u32, h: u32 },
    /// Anything but the all-zero bytes the buffer was cleared to (visl's
    /// debug pattern carries timestamps and text).
    Written,
}

impl Reference {
    /// `got`, a completed CAPTURE buffer read through `what`, holds what
    /// this reference says.
    pub fn check(&self, what: &str, got: &[u8]) -> Result<()> {
        match self {
            Reference::Exact(expected) => {
                if got != expected.as_slice() {
                    bail!(
                        "{what}: sha256 {} differs from the software reference {}",
                        sha256_hex(got),
                        sha256_hex(expected)
                    );
                }
                Ok(())
            }
            Reference::Written => {
                if got.iter().all(|&b| b == 0) {
                    bail!(
                        "{what}: {} bytes, all zero: the job wrote nothing",
                        got.len()
                    );
                }
                Ok(())
            }
            Reference::Fwht { w, h } => {
                check_fwht_frame(got, *w, *h).with_context(|| what.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwht(w: u32, h: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff];
        // version, width, height, flags, colorspace, xfer, ycbcr, quant, size
        for f in [3, w, h, 8, 3, 0, 0, 0, payload.len() as u32] {
            v.extend_from_slice(&f.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn fwht_frame_accepted() {
        let f = fwht(640, 360, &[1, 2, 3, 4, 5]);
        assert_eq!(f.len(), FWHT_HDR_LEN + 5);
        assert!(check_fwht_frame(&f, 640, 360).is_ok());
    }

    #[test]
    fn fwht_frame_rejected() {
        let good = fwht(640, 360, &[9; 16]);
        // Wrong size, truncated (bytesused != header size), no magic, empty.
        assert!(check_fwht_frame(&good, 1280, 720).is_err());
        assert!(check_fwht_frame(&good[..good.len() - 1], 640, 360).is_err());
        let mut bad = good.clone();
        bad[0] = 0;
        assert!(check_fwht_frame(&bad, 640, 360).is_err());
        assert!(check_fwht_frame(&[], 640, 360).is_err());
        assert!(check_fwht_frame(&vec![0u8; 4096], 640, 360).is_err());
    }

    #[test]
    fn yuv420_frame_header() {
        let f = fwht_yuv420_frame(640, 368, 64);
        assert_eq!(f.len(), FWHT_HDR_LEN + 64);
        assert!(check_fwht_frame(&f, 640, 368).is_ok());
        // version 3; flags: 3 components (field value 2), YUV.
        assert_eq!(be32(&f, 8), 3);
        assert_eq!(be32(&f, 20), 0x0002_0000 | 0x0008_0000);
    }

    #[test]
    fn yuv420_pattern_size() {
        let p = pattern_yuv420(VICODEC_W, VICODEC_H);
        assert_eq!(p.len(), (VICODEC_W * VICODEC_H * 3 / 2) as usize);
        assert!(p.iter().any(|&b| b != 0));
    }
}
