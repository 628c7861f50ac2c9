//! A desktop in a folder: a private sound server started the way a desktop starts it, an
//! output "speakers" whose monitor is "what you hear", a separate default input "mic", and
//! music played by `paplay FILE` with its default buffer, as desktop players do. The server is
//! PulseAudio (the system's `default.pa`: device and stream memory, default-device memory,
//! suspend on idle...) or PipeWire (pipewire, wireplumber and pipewire-pulse, with a private
//! session bus as a desktop session has one). spektr runs against it with its defaults: the
//! environment a desktop session has (only `XDG_RUNTIME_DIR`), no `--host`, no `--period`.
//!
//! A missing server or tool fails the test: `make test` installs them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_spektr");

/// The music's rate, and the sink's on PulseAudio (its default; PipeWire's is 48 kHz).
pub const RATE: u32 = 44_100;

/// Which sound server a desktop runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// PulseAudio 16, from the system's default.pa.
    PulseAudio,
    /// PipeWire with WirePlumber and its PulseAudio service.
    PipeWire,
}

/// The server's processes, its folder and what plays.
pub struct Desktop {
    /// The session's runtime folder (and home).
    pub dir: tempfile::TempDir,
    /// Which server.
    pub server: Server,
    daemons: Vec<Child>,
    players: Vec<Child>,
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: 'make test' installs it (scripts/install-deps.sh test)"
    );
}

impl Desktop {
    /// A PulseAudio desktop; nothing plays yet.
    pub fn start() -> Self {
        Self::with(Server::PulseAudio)
    }

    /// A desktop running `server`; nothing plays yet.
    pub fn with(server: Server) -> Self {
        match server {
            Server::PulseAudio => need("pulseaudio"),
            Server::PipeWire => {
                for tool in ["pipewire", "wireplumber", "pipewire-pulse", "dbus-daemon"] {
                    need(tool);
                }
            }
        }
        need("paplay");
        need("pactl");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("desktop.pa"),
            ".include /etc/pulse/default.pa\n\
             load-module module-null-sink sink_name=speakers sink_properties=device.description=Speakers\n\
             load-module module-null-source source_name=mic description=Microphone\n\
             set-default-sink speakers\nset-default-source mic\n",
        )
        .expect("desktop.pa");
        let mut d = Desktop {
            dir,
            server,
            daemons: Vec::new(),
            players: Vec::new(),
        };
        d.start_daemon();
        d
    }

    fn spawn_daemon(&mut self, program: &str, args: &[&str]) {
        let log =
            std::fs::File::create(self.dir.path().join(format!("{program}.log"))).expect("log");
        let child = self
            .env(&mut Command::new(program))
            .args(args)
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", self.dir.path().join("bus").display()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        self.daemons.push(child);
    }

    /// Starts (or restarts) the server and waits until it answers, with the desktop's
    /// devices and defaults.
    pub fn start_daemon(&mut self) {
        match self.server {
            Server::PulseAudio => {
                let pa = self.dir.path().join("desktop.pa");
                self.spawn_daemon(
                    "pulseaudio",
                    &[
                        "-n",
                        "-F",
                        pa.to_str().expect("path"),
                        "--daemonize=no",
                        "--exit-idle-time=-1",
                        "--log-target=stderr",
                    ],
                );
            }
            Server::PipeWire => {
                let bus = self.dir.path().join("bus");
                let _ = std::fs::remove_file(&bus);
                let address = format!("--address=unix:path={}", bus.display());
                self.spawn_daemon(
                    "dbus-daemon",
                    &["--session", &address, "--nofork", "--nopidfile"],
                );
                let wait = Instant::now();
                while !bus.exists() {
                    assert!(wait.elapsed() < Duration::from_secs(10), "no session bus");
                    std::thread::sleep(Duration::from_millis(20));
                }
                self.spawn_daemon("pipewire", &[]);
                self.spawn_daemon("wireplumber", &[]);
                self.spawn_daemon("pipewire-pulse", &[]);
            }
        }
        let start = Instant::now();
        loop {
            let ok = self
                .env(&mut Command::new("pactl"))
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            if start.elapsed() > Duration::from_secs(15) {
                let logs: Vec<String> = [
                    "pulseaudio",
                    "dbus-daemon",
                    "pipewire",
                    "wireplumber",
                    "pipewire-pulse",
                ]
                .iter()
                .filter_map(|n| {
                    let text =
                        std::fs::read_to_string(self.dir.path().join(format!("{n}.log"))).ok()?;
                    let tail: Vec<&str> = text.lines().rev().take(5).collect();
                    Some(format!("{n}: {}", tail.join(" | ")))
                })
                .collect();
                panic!("{:?} did not start: {}", self.server, logs.join("; "));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.server == Server::PipeWire {
            // PipeWire's pulse service takes the same module lines a desktop's would.
            for args in [
                &[
                    "load-module",
                    "module-null-sink",
                    "sink_name=speakers",
                    "sink_properties=device.description=Speakers",
                ][..],
                &[
                    "load-module",
                    "module-null-sink",
                    "sink_name=mic",
                    "media.class=Audio/Source/Virtual",
                ],
            ] {
                self.pactl(args);
            }
            let start = Instant::now();
            while !self.pactl(&["list", "short", "sources"]).contains("mic") {
                assert!(start.elapsed() < Duration::from_secs(10), "no mic");
                std::thread::sleep(Duration::from_millis(50));
            }
            self.pactl(&["set-default-sink", "speakers"]);
            self.pactl(&["set-default-source", "mic"]);
        }
    }

    /// Kills the daemon, as a crash would.
    pub fn kill_daemon(&mut self) {
        for p in &mut self.players {
            let _ = p.kill();
            let _ = p.wait();
        }
        self.players.clear();
        // The sound server first (as a crash), the session bus last.
        for mut d in self.daemons.drain(..).rev() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    /// Points `cmd` at this desktop as a session has it: the runtime folder only.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("XDG_RUNTIME_DIR", self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("PULSE_SERVER")
            .env_remove("PULSE_RUNTIME_PATH")
            .env_remove("PULSE_SINK")
            .env_remove("PULSE_SOURCE")
    }

    /// The socket of the daemon.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("pulse/native")
    }

    /// Plays `file` into the default output as a desktop player does: `paplay FILE`, its
    /// default buffer (about 2 s).
    pub fn play(&mut self, file: &Path) {
        let child = self
            .env(&mut Command::new("paplay"))
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("paplay");
        self.players.push(child);
    }

    /// Writes `seconds` of music and plays it.
    pub fn play_music(&mut self, seconds: f64) -> PathBuf {
        let path = self.dir.path().join("music.wav");
        write_music(&path, seconds);
        self.play(&path);
        path
    }

    /// `pactl ARGS`, its standard output.
    pub fn pactl(&self, args: &[&str]) -> String {
        let out = self
            .env(&mut Command::new("pactl"))
            .args(args)
            .output()
            .expect("pactl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// spektr with `args` on this desktop, its output piped.
    pub fn spektr(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        self.env(&mut c);
        c
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        self.kill_daemon();
    }
}

/// A music-like stereo WAV at [`RATE`], all of it below 4 kHz: a bass line, chords of plucked
/// notes that decay, and a kick drum, four beats a second. Deterministic.
pub fn write_music(path: &Path, seconds: f64) {
    let rate = f64::from(RATE);
    let n = (seconds * rate) as usize;
    let tau = std::f64::consts::TAU;
    // A, F, C, G, each for two beats.
    let chords: [[f64; 3]; 4] = [
        [220.0, 261.63, 329.63],
        [174.61, 220.0, 261.63],
        [130.81, 164.81, 196.0],
        [196.0, 246.94, 293.66],
    ];
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("music");
    for i in 0..n {
        let t = i as f64 / rate;
        let beat = (t * 4.0).floor();
        let in_beat = t * 4.0 - beat;
        let chord = chords[(beat as usize / 8) % 4];
        // A 5 ms attack, then the decay: no steps in the waveform (the latency test listens
        // for the sharp steps of its 8 kHz bursts).
        let attack = (in_beat / 0.02).min(1.0);
        let pluck = attack * (-in_beat * 6.0).exp();
        let mut l = 0.0;
        let mut r = 0.0;
        for (k, &f) in chord.iter().enumerate() {
            // Two partials per note: fundamental and a softer octave.
            let v = (tau * f * t).sin() + 0.3 * (tau * 2.0 * f * t).sin();
            let pan = k as f64 / 2.0;
            l += v * (1.0 - 0.5 * pan);
            r += v * (0.5 + 0.5 * pan);
        }
        let bass = (tau * chord[0] / 4.0 * t).sin() * 0.6;
        let kick = if in_beat < 0.12 {
            (tau * (60.0 + 90.0 * (1.0 - in_beat / 0.12)) * in_beat).sin() * (1.0 - in_beat / 0.12)
        } else {
            0.0
        };
        let l = 0.12 * pluck * l + 0.15 * bass + 0.35 * kick;
        let r = 0.12 * pluck * r + 0.15 * bass + 0.35 * kick;
        w.write_sample((l * 32_767.0).round() as i16)
            .expect("sample");
        w.write_sample((r * 32_767.0).round() as i16)
            .expect("sample");
    }
    w.finalize().expect("finalize music");
}

/// White noise with a fixed seed, stereo 16-bit at [`RATE`]: every stretch of it occurs once,
/// so a recording of it can be placed in it sample for sample. Returns the samples.
pub fn write_noise(path: &Path, seconds: f64) -> Vec<i16> {
    let n = (seconds * f64::from(RATE)) as usize * 2;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let samples: Vec<i16> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // A quarter of full scale: no clipping anywhere.
            ((x >> 48) as i16) / 4
        })
        .collect();
    super::write_i16_wav(path, RATE, 2, samples.iter().copied());
    samples
}
