//! The m2m readbacks: a frame read through the MMAP mapping, through the
//! export (mmap + DMA_BUF_IOCTL_SYNC) and through an importer is the frame
//! the suite computes. They pass on both kernels.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{bail, Context, Result};

use crate::env::Env;
use crate::frames::{check_fwht_frame, VICODEC_H, VICODEC_W, VIM2M_H, VIM2M_W};
use crate::m2m::{
    open_vicodec_dec, open_vicodec_enc, open_vim2m, read_via_export, BufSource, M2mRun,
    VIM2M_CID_TRANS_TIME_MSEC,
};
use crate::sys;
use crate::v4l2::Mem;

/// sha256 of one frame through the MMAP mapping, through an export mmapped
/// with DMA_BUF_IOCTL_SYNC, and through an importer (a second vim2m
/// context copying the export) all equal the software reference.
pub fn vim2m(env: &Env, name: &str, fourcc: &[u8; 4]) -> Result<()> {
    let dev = open_vim2m()?;
    let mut run = M2mRun::setup(env, dev, fourcc, BufSource::Mmap)?;
    let (exp, _, via_export) = run_and_read_back(env, &mut run, name)?;
    run.check_frame("exported dma-buf mmap", &via_export)?;

    // Importer: a second context reads the export as its OUTPUT (same
    // format both sides: vim2m copies line by line). vim2m takes YUYV only
    // on CAPTURE, so a YUYV frame is imported as RGB565, which has the same
    // 2 bytes per pixel and is copied just as verbatim.
    let import_fourcc: &[u8; 4] = if fourcc == b"YUYV" { b"RGBP" } else { fourcc };
    let mut imp = run.dev()?.reopen()?;
    imp.s_ctrl(VIM2M_CID_TRANS_TIME_MSEC, 1)?;
    let (oq, cq) = (imp.out_q(), imp.cap_q());
    imp.set_format(oq, import_fourcc, VIM2M_W, VIM2M_H)?;
    imp.set_format(cq, import_fourcc, VIM2M_W, VIM2M_H)?;
    imp.reqbufs(oq, Mem::DmaBuf, 1)?;
    imp.reqbufs(cq, Mem::Mmap, 1)?;
    let imp_map = imp.mmap_plane(cq, 0)?;
    imp.streamon(oq)?;
    imp.streamon(cq)?;
    imp.qbuf_mmap(cq, 0, 0)?;
    // length 0: vb2 takes the dma-buf's own size.
    imp.qbuf_dmabuf(oq, 0, exp.as_fd(), 0, run.cap_size)
        .context("import the export as OUTPUT of a second context")?;
    let c = imp
        .dqbuf_wait(cq, env.job_timeout())
        .context("importer CAPTURE")?;
    if c.error {
        bail!("importer CAPTURE came back with V4L2_BUF_FLAG_ERROR");
    }
    let via_importer = sys::plane_read(&imp_map, run.cap_size as usize);
    run.check_frame("importer (second context)", &via_importer)?;
    Ok(())
}

/// The common start of the readback tests: export the CAPTURE buffer, run
/// one job, check the frame read through the MMAP mapping against the run's
/// reference, and read it again through the export (mmap + SYNC). Returns
/// the export (an importer may still read it), the MMAP bytes and the
/// export's bytes.
fn run_and_read_back(
    env: &Env,
    run: &mut M2mRun,
    name: &str,
) -> Result<(OwnedFd, Vec<u8>, Vec<u8>)> {
    let exp = run.export_cap(&format!("fs:{name}:cap"))?;
    run.start()?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    let via_mmap = run.cap_bytes();
    run.check_frame("MMAP mapping", &via_mmap)?;
    let via_export = read_via_export(&exp, run.payload_len())?;
    Ok((exp, via_mmap, via_export))
}

/// vicodec round trip. A YU12 frame whose pixels the suite generates
/// (`readback_ref::fwht_source_yu12`) is encoded by vicodec's stateful
/// encoder at the minimum QP. The FWHT frame read through the CAPTURE
/// buffer's MMAP mapping and through its export (mmap + DMA_BUF_IOCTL_SYNC)
/// must be the same bytes, and a well-formed intra frame with every plane
/// transform coded. vicodec's stateful decoder, importing that export as
/// its OUTPUT buffer, must give back the source within the bound derived
/// and measured in `fwht_source_yu12`: no sample off by more than 3, and
/// 1.5 on average. Passes on both kernels.
pub fn vicodec_fwht(env: &Env, name: &str) -> Result<()> {
    use crate::readback_dev::{decode, encode};
    use crate::readback_ref::{
        check_fwht_intra_coded, compare_exact, compare_within, fwht_source_yu12, yu12_planes, Plane,
    };
    let (w, h) = (VICODEC_W, VICODEC_H);
    let src = fwht_source_yu12(w as usize, h as usize);
    let label = format!("fs:{name}:cap");
    let enc = encode(
        open_vicodec_enc()?,
        &src.frame,
        (w, h),
        &label,
        env.job_timeout(),
    )?;
    let via_mmap = enc.via_mmap();
    let via_export = read_via_export(&enc.export, enc.len)?;
    compare_exact(&Plane::whole("FWHT", enc.len), &via_mmap, &via_export).context(
        "the encoded frame through the export (mmap + DMA_BUF_IOCTL_SYNC), against the MMAP \
         mapping",
    )?;
    check_fwht_frame(&via_mmap, w, h).context("the encoded frame")?;
    check_fwht_intra_coded(&via_mmap).context("the encoded frame")?;
    let decoded = decode(
        open_vicodec_dec()?,
        enc.export.as_fd(),
        enc.len,
        (w, h),
        env.job_timeout(),
    )?;
    compare_within(
        &yu12_planes(w as usize, h as usize),
        &src.frame,
        &decoded,
        src.bound,
    )
    .context("the frame vicodec's decoder made of the export, against the source")?;
    Ok(())
}
