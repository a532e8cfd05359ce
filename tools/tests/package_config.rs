//! package/config.fragment builds what the suite needs on the PineBook Pro:
//! without the virtual test drivers every fence test there is a SKIP.
//! (That each symbol survives olddefconfig is `kconfig check`'s job.)

use fresnel_tools::kconfig;
use std::path::Path;

#[test]
fn fragment_builds_the_suites_drivers_and_oracles() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../package/config.fragment");
    let text = std::fs::read_to_string(&path).expect("package/config.fragment");
    let fragment = kconfig::parse(&text);
    let want = [
        // Devices that publish fences without RK3399 hardware.
        ("CONFIG_VIDEO_VIM2M", "m"),
        ("CONFIG_VIDEO_VISL", "m"),
        ("CONFIG_VIDEO_VICODEC", "m"),
        ("CONFIG_VIDEO_VIVID", "m"),
        // Importers, explicit sync and the debugfs oracle.
        ("CONFIG_DMABUF_HEAPS_SYSTEM", "y"),
        ("CONFIG_UDMABUF", "y"),
        ("CONFIG_SYNC_FILE", "y"),
        ("CONFIG_DEBUG_FS", "y"),
    ];
    let missing: Vec<String> = want
        .iter()
        .filter(|(sym, val)| fragment.get(*sym) != Some(&Some(val.to_string())))
        .map(|(sym, val)| format!("{sym}={val}"))
        .collect();
    assert!(missing.is_empty(), "{} lacks {missing:?}", path.display());
}
