//! Child processes in tests: their output, with a deadline.

/// Waits for `child` (stdout and stderr piped), draining both pipes so a full pipe cannot
/// block it; a child still running at `deadline` is killed and fails the test.
pub fn wait_output(
    mut child: std::process::Child,
    deadline: std::time::Duration,
) -> std::process::Output {
    use std::io::Read;
    let start = std::time::Instant::now();
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return std::process::Output {
                status,
                stdout: out.join().expect("stdout"),
                stderr: err.join().expect("stderr"),
            };
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("the child process did not finish within {deadline:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
