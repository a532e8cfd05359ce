//! Unbinding a video node's device from its driver through sysfs, and
//! binding it back: what `echo DEV > /sys/bus/*/drivers/DRV/unbind` does,
//! which runs the driver's remove() whatever its open files are doing.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

/// A device unbound from its driver. `rebind` binds it back and reports
/// failure; dropping it without that binds it back on a best-effort basis,
/// so that a failed test does not leave the device gone for the next one.
pub struct Unbound {
    driver: PathBuf,
    device: String,
    bound: bool,
}

/// The device behind video node `node` (`/dev/videoN`) and its driver's
/// sysfs directory.
fn device_and_driver(node: &Path) -> Result<(String, PathBuf)> {
    let name = node
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{} is not a /dev/videoN path", node.display()))?;
    let link = Path::new("/sys/class/video4linux")
        .join(name)
        .join("device");
    let dev_dir = fs::canonicalize(&link).with_context(|| format!("resolve {}", link.display()))?;
    let device = dev_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{} has no device name", dev_dir.display()))?
        .to_string();
    let drv_link = dev_dir.join("driver");
    let driver =
        fs::canonicalize(&drv_link).with_context(|| format!("resolve {}", drv_link.display()))?;
    Ok((device, driver))
}

fn write_attr(driver: &Path, attr: &str, device: &str) -> Result<()> {
    let path = driver.join(attr);
    fs::write(&path, device).with_context(|| format!("write {device} to {}", path.display()))
}

/// Unbind the device behind `node` from its driver: remove() runs before
/// this returns.
pub fn unbind(node: &Path) -> Result<Unbound> {
    let (device, driver) = device_and_driver(node)?;
    write_attr(&driver, "unbind", &device)?;
    Ok(Unbound {
        driver,
        device,
        bound: false,
    })
}

impl Unbound {
    /// Bind the device back to its driver (probe() runs again).
    pub fn rebind(mut self) -> Result<()> {
        self.bound = true;
        write_attr(&self.driver, "bind", &self.device)
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        if !self.bound {
            let _ = write_attr(&self.driver, "bind", &self.device);
        }
    }
}
