//! The systemd protocol, spoken to a real `NOTIFY_SOCKET`: READY=1 once serving, WATCHDOG=1 while
//! the scheduler is alive, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 on SIGTERM.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn collect(sock: &UnixDatagram, until: impl Fn(&[String]) -> bool, secs: u64) -> Vec<String> {
    let mut got = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(secs) && !until(&got) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.extend(String::from_utf8_lossy(&buf[..n]).lines().map(String::from));
        }
    }
    got
}

#[test]
fn notify_protocol_and_config_reload() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let config = dir.path().join("perfd.toml");
    let body = |interval: u64| {
        format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n[schedule]\ninterval_secs = {interval}\n[benchmark]\npreset = \"tiny\"\nprompt_tokens = 4\ngen_tokens = 4\nreps = 3\nbandwidth_memory_mib = 48\n",
            dir.path().join("state").display()
        )
    };
    std::fs::write(&config, body(3600)).unwrap();
    let log = dir.path().join("daemon.log");
    // systemd sets WATCHDOG_PID to the service's pid: exec through sh so `$$` is perfd's.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "WATCHDOG_PID=$$ exec \"$0\" run --config \"$1\"",
            common::perfd_bin(),
            config.to_str().unwrap(),
        ])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "2000000")
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let got = collect(
        &sock,
        |g| g.iter().filter(|l| *l == "WATCHDOG=1").count() >= 2,
        20,
    );
    assert!(got.iter().any(|l| l == "READY=1"), "{got:?}");
    assert!(
        got.iter().filter(|l| *l == "WATCHDOG=1").count() >= 2,
        "watchdog pings: {got:?}"
    );
    let ready_at = got.iter().position(|l| l == "READY=1").unwrap();
    let first_ping = got.iter().position(|l| l == "WATCHDOG=1").unwrap();
    assert!(ready_at < first_ping, "READY must come first: {got:?}");

    // An invalid file is refused on SIGHUP; the daemon keeps running on the old configuration.
    std::fs::write(&config, "[schedule]\ninterval_secs = \"never\"\n").unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let got = collect(&sock, |g| g.iter().any(|l| l == "READY=1"), 10);
    assert!(got.iter().any(|l| l == "RELOADING=1"), "{got:?}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "daemon died on a bad reload"
    );
    common::wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("keeping the current configuration")
            .then_some(())
    })
    .expect("bad reload not logged");
    std::fs::write(&config, body(7200)).unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    common::wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("configuration reloaded")
            .then_some(())
    })
    .expect("good reload not logged");

    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let got = collect(&sock, |g| g.iter().any(|l| l == "STOPPING=1"), 20);
    assert!(got.iter().any(|l| l == "STOPPING=1"), "{got:?}");
    let status = common::wait_for(Duration::from_secs(120), || child.try_wait().unwrap())
        .expect("daemon stops");
    assert!(status.success());
}
