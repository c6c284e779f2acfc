//! Interface names and their versions: `wasi:http/types@0.2.12`.
//!
//! Imports match semver-compatibly, as wasmtime does: `@0.2.0` and
//! `@0.2.12` are the same track (`0.2`), `@1.4.0` and `@1.9.1` too (`1`);
//! pre-releases only match themselves.

/// `name` with its version reduced to its semver track, or unchanged if it
/// has no version or the version is not plain `major.minor.patch`.
pub fn semver_track(name: &str) -> String {
    let Some((base, version)) = name.rsplit_once('@') else {
        return name.to_string();
    };
    let Ok(v) = semver::Version::parse(version) else {
        return name.to_string();
    };
    if !v.pre.is_empty() || !v.build.is_empty() {
        return name.to_string();
    }
    if v.major > 0 {
        format!("{base}@{}", v.major)
    } else if v.minor > 0 {
        format!("{base}@0.{}", v.minor)
    } else {
        format!("{base}@0.0.{}", v.patch)
    }
}

/// Whether an import or export named `a` may bind to `b`.
pub fn semver_compatible(a: &str, b: &str) -> bool {
    a == b || semver_track(a) == semver_track(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks() {
        assert_eq!(
            semver_track("wasi:http/types@0.2.12"),
            "wasi:http/types@0.2"
        );
        assert_eq!(semver_track("wasi:http/types@0.2.0"), "wasi:http/types@0.2");
        assert_eq!(semver_track("a:b/c@1.4.0"), "a:b/c@1");
        assert_eq!(semver_track("a:b/c@0.0.3"), "a:b/c@0.0.3");
        assert_eq!(semver_track("a:b/c@0.3.0-rc-1"), "a:b/c@0.3.0-rc-1");
        assert_eq!(semver_track("plain"), "plain");
        assert!(semver_compatible(
            "wasi:io/poll@0.2.0",
            "wasi:io/poll@0.2.12"
        ));
        assert!(!semver_compatible(
            "wasi:io/poll@0.2.0",
            "wasi:io/poll@0.3.0"
        ));
        assert!(!semver_compatible(
            "wasi:io/poll@0.2.0",
            "wasi:io/streams@0.2.0"
        ));
    }
}
