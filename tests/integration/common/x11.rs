//! A virtual X display for the window tests: Xvfb, xdotool for keys, ImageMagick for
//! screenshots, openbox as the window manager. A missing tool fails the test.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_spektr");

pub struct Xvfb {
    child: Child,
    /// The display, `:N`.
    pub display: String,
}

impl Xvfb {
    pub fn start() -> Self {
        // -displayfd: Xvfb picks a free display and writes its number to our pipe.
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed by 'make test' (scripts/install-deps.sh test)");
        let mut out = child.stdout.take().expect("stdout");
        let mut number = String::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).expect("read display") == 1 && byte[0] != b'\n' {
            number.push(byte[0] as char);
        }
        assert!(!number.is_empty(), "Xvfb did not report a display");
        Xvfb {
            child,
            display: format!(":{}", number.trim()),
        }
    }

    pub fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e} ('make test' installs it)"))
    }
}

impl Xvfb {
    /// Starts spektr's window with `args` on this display; returns it and its X window id.
    pub fn open_spektr(&self, args: &[&str]) -> (Child, String) {
        self.open_spektr_with(args, Stdio::null())
    }

    /// The same, with spektr's stderr going to `stderr`.
    pub fn open_spektr_with(&self, args: &[&str], stderr: Stdio) -> (Child, String) {
        self.open_spektr_in(args, stderr, |_| {})
    }

    /// The same, with `setup` adding to spektr's environment (a desktop's sound server).
    pub fn open_spektr_in(
        &self,
        args: &[&str],
        stderr: Stdio,
        setup: impl FnOnce(&mut Command),
    ) -> (Child, String) {
        let mut cmd = Command::new(BIN);
        setup(&mut cmd);
        let app = cmd
            .args(args)
            .env("DISPLAY", &self.display)
            // No D-Bus session: sealed off from a desktop's portal (the file dialog is zenity).
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn spektr");
        let found = self.run("xdotool", &["search", "--sync", "--name", "^spektr"]);
        let window = String::from_utf8_lossy(&found.stdout)
            .lines()
            .next()
            .expect("a spektr window")
            .to_string();
        (app, window)
    }
}

impl Xvfb {
    /// Starts openbox on this display, so that windows can be minimized and dialogs get
    /// focus as on a desktop.
    pub fn window_manager(&self) -> Child {
        Command::new("openbox")
            .env("DISPLAY", &self.display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openbox is installed by 'make test' (scripts/install-deps.sh test)")
    }

    /// The first visible window whose `what` (`--name`, `--class`) matches `pattern`, waiting up to
    /// `seconds` for one to appear.
    pub fn wait_window(&self, what: &str, pattern: &str, seconds: u64) -> Option<String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(seconds) {
            let found = self.run("xdotool", &["search", "--onlyvisible", what, pattern]);
            if let Some(id) = String::from_utf8_lossy(&found.stdout).lines().next() {
                return Some(id.to_string());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn screenshot(x: &Xvfb, window: &str, path: &std::path::Path) -> Vec<u8> {
    let out = x.run("import", &["-window", window, path.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    decode_rgba(path).0
}

pub fn decode_rgba(path: &std::path::Path) -> (Vec<u8>, u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    buf.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (rgba, info.width, info.height)
}

/// Pixels of the bars' teal.
pub fn bar_pixels(rgba: &[u8]) -> usize {
    rgba.chunks_exact(4)
        .filter(|p| {
            let (r, g, b) = (u16::from(p[0]), u16::from(p[1]), u16::from(p[2]));
            // The bars' teal has more green than blue; the meters' blue has less.
            g > 100 && g > r + 40 && g > b && b > r + 20
        })
        .count()
}
