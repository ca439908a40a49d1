//! Where `orbit` finds the cookie when none is given, as an Erlang node does: `ORBIT_COOKIE`, then the
//! first line of `~/.erlang.cookie`; with neither, an error that says what to pass. The cookie never
//! appears in what Orbit prints.

use orbit_test_harness::{run_within, TestCluster};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// `orbit status` against node 0 with no `--cookie`, `HOME` set to `home` and `ORBIT_COOKIE` as given.
fn status(nodes: &TestCluster, home: &Path, orbit_cookie: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orbit"));
    cmd.args(["status", "--node", nodes.name(0), "--timeout", "10"])
        .env("ORBIT_LOG", "error")
        .env("HOME", home)
        .env_remove("ORBIT_COOKIE");
    if let Some(c) = orbit_cookie {
        cmd.env("ORBIT_COOKIE", c);
    }
    run_within(&mut cmd, "orbit status", Duration::from_secs(120))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_cookie_comes_from_orbit_cookie_then_the_home_cookie_file() {
    let nodes = TestCluster::erlang(1);
    let home = std::env::temp_dir().join(format!("orbit-cookie-test-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("temp dir");
    check(&nodes, &home);
    let _ = std::fs::remove_dir_all(&home);
}

fn check(nodes: &TestCluster, home: &Path) {
    // No ORBIT_COOKIE and no ~/.erlang.cookie: the error names every way to give one.
    let out = status(nodes, home, None);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("no cookie given") && t.contains("--cookie") && t.contains("ORBIT_COOKIE"), "{t}");
    assert!(t.contains(".erlang.cookie"), "names the file it looked for: {t}");

    // The home file, read as Erlang reads it: the first line, trimmed.
    std::fs::write(home.join(".erlang.cookie"), format!("{}  \nsecond line\n", nodes.cookie)).unwrap();
    let out = status(nodes, home, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(nodes.name(0)), "{}", text(&out));
    assert!(!text(&out).contains(&nodes.cookie), "the cookie is never printed");

    // ORBIT_COOKIE comes first: a wrong one is refused by the node even though the file is right...
    let out = status(nodes, home, Some("not-the-cookie"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("not-the-cookie"), "the cookie is never printed: {}", text(&out));
    // ...and the right one works with a wrong file; a blank ORBIT_COOKIE counts as none.
    std::fs::write(home.join(".erlang.cookie"), "wrong\n").unwrap();
    let out = status(nodes, home, Some(&format!(" {} ", nodes.cookie)));
    assert!(out.status.success(), "{}", text(&out));
    let out = status(nodes, home, Some("  "));
    assert!(!out.status.success(), "the blank variable falls back to the wrong file: {}", text(&out));

    // An empty file is said to be empty.
    std::fs::write(home.join(".erlang.cookie"), "\n").unwrap();
    let out = status(nodes, home, None);
    assert!(!out.status.success());
    assert!(text(&out).contains("is empty"), "{}", text(&out));
}
