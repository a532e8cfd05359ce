//! The paths the suite drives, each a test body: on m2m devices whose jobs
//! stay pending (`pending`: vim2m) or complete inside an ioctl
//! (`in_ioctl`: vicodec, visl), with nothing armed (`idle`), reading a
//! frame back (`readback`), visl with a processing time (`visl`), vivid's
//! multi-planar capture (`vivid`), and a decode job that fails
//! (`vicodec_error`). A fence path returns the landing row it filled.

pub mod idle;
pub mod in_ioctl;
pub mod pending;
pub mod readback;
pub mod vicodec_error;
pub mod visl;
pub mod vivid;
