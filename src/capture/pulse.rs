//! PulseAudio, and PipeWire through its PulseAudio service, spoken to over the native protocol
//! (the `pulseaudio` crate's protocol types, over a socket read here). Opening and the
//! questions (devices, defaults) run on the supervisor thread; a capture is one socket that
//! the engine thread reads itself ([`crate::stream::Pump`]): each block the server sends is
//! converted and analyzed on the one thread it wakes, and the latency is asked for on the way.
//!
//! Not cpal's PulseAudio host, because spektr needs what that host cannot ask for:
//! - a capture period by default without a one-fragment server buffer (cpal's fixed buffer
//!   size sets the server's `maxlength` to one fragment, so a stall of one period loses audio
//!   without a word), while the server's default fragment is about 2 s;
//! - a stream pinned to the source it was opened on (`no_move`): otherwise the server moves
//!   it to a new default input and the analysis goes on, silently, from another device;
//! - the server found the way libpulse finds it (`PULSE_SERVER`, `PULSE_RUNTIME_PATH` as the
//!   folder that holds `native`, `XDG_RUNTIME_DIR/pulse`), and named when it is not there;
//! - the source's latency as the server reports it, for latency counted from the sound;
//! - a capture that costs little: the crate's client zero-fills a 1 MiB buffer for every read
//!   of its socket (about 20 ms of CPU per second at 100 blocks a second, more than all of
//!   spektr's analysis) and keeps a thread of its own; here the socket is read into a reused
//!   buffer by the engine, so a block costs one wake, not three.

use std::ffi::{CString, OsString};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pulseaudio::protocol;

use super::devices::{DeviceInfo, DeviceKind, MONITOR_SUFFIX};
use super::fault::{Fault, StreamFault};
use super::{CaptureError, SourceSpec};
use crate::config::{SampleKind, StreamFormat};
use crate::stream::{StreamReader, StreamWriter};

/// How the host is named in source names and `spektr devices`.
pub const HOST: &str = "pulseaudio";
/// How long a request to the server may take before it counts as not answering.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the stream's latency is asked for (a question that fails says the stream is
/// gone; a server that goes or ends the stream says so at once). Each answer wakes the engine,
/// so not more often: the latency changes slowly.
const POLL: Duration = Duration::from_millis(500);
/// How often the default device is looked at, for sources that follow it (a question and its
/// answer: two wakes).
const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// The server's buffer for spektr's stream, beyond the fragment in flight: what it keeps while
/// spektr is late, before it drops audio.
const SERVER_BUFFER_S: f64 = 2.0;

/// Where the server is, and which setting named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// The socket.
    pub socket: PathBuf,
    /// The variable (or default) it came from, for messages.
    pub from: String,
}

fn unavailable(reason: impl Into<String>) -> CaptureError {
    CaptureError::HostUnavailable {
        host: "PulseAudio".into(),
        reason: reason.into(),
    }
}

/// Finds the server the way libpulse does: each `unix:` (or absolute path) entry of
/// `PULSE_SERVER`, else `PULSE_RUNTIME_PATH/native`, else `XDG_RUNTIME_DIR/pulse/native`, else
/// the system-wide `/run/pulse/native`. The error names the sockets it looked for.
pub fn find_server() -> Result<Server, CaptureError> {
    find_server_in(|k| std::env::var_os(k), |p| p.exists())
}

/// [`find_server`] over an environment and a file test, for tests.
pub fn find_server_in(
    env: impl Fn(&str) -> Option<OsString>,
    exists: impl Fn(&std::path::Path) -> bool,
) -> Result<Server, CaptureError> {
    if let Some(list) = env("PULSE_SERVER").filter(|v| !v.is_empty()) {
        let list = list.to_string_lossy().into_owned();
        let mut tried = Vec::new();
        for entry in list.split_whitespace() {
            // libpulse allows "{machine-id}unix:..." prefixes: the part after '}' is the address.
            let entry = entry.rsplit_once('}').map_or(entry, |(_, e)| e);
            let path = match entry.strip_prefix("unix:") {
                Some(p) => PathBuf::from(p),
                None if entry.starts_with('/') => PathBuf::from(entry),
                None => {
                    tried.push(format!("{entry} (only local unix: servers are supported)"));
                    continue;
                }
            };
            if exists(&path) {
                return Ok(Server {
                    socket: path,
                    from: "PULSE_SERVER".into(),
                });
            }
            tried.push(format!("{} (no such socket)", path.display()));
        }
        return Err(unavailable(format!(
            "PULSE_SERVER names no server that answers here: {}",
            tried.join(", ")
        )));
    }
    let mut candidates = Vec::new();
    if let Some(dir) = env("PULSE_RUNTIME_PATH").filter(|v| !v.is_empty()) {
        candidates.push((PathBuf::from(dir).join("native"), "PULSE_RUNTIME_PATH"));
    } else if let Some(dir) = env("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        candidates.push((PathBuf::from(dir).join("pulse/native"), "XDG_RUNTIME_DIR"));
    }
    candidates.push((
        PathBuf::from("/run/pulse/native"),
        "the system-wide default",
    ));
    for (path, from) in &candidates {
        if exists(path) {
            return Ok(Server {
                socket: path.clone(),
                from: (*from).into(),
            });
        }
    }
    let looked: Vec<String> = candidates
        .iter()
        .map(|(p, from)| format!("{} (from {from})", p.display()))
        .collect();
    Err(unavailable(format!(
        "no server socket at {}",
        looked.join(" or ")
    )))
}

/// A connection to the server for questions (devices, defaults): one request at a time, each
/// answered within [`ANSWER_TIMEOUT`] or the server counts as gone.
pub struct Connection {
    wire: Wire,
    /// Where it is.
    pub server: Server,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .finish()
    }
}

impl Connection {
    /// Connects to the server [`find_server`] finds.
    pub fn open() -> Result<Self, CaptureError> {
        let server = find_server()?;
        let wire = Wire::open(&server).map_err(unavailable)?;
        Ok(Connection { wire, server })
    }

    fn ask<T: protocol::CommandReply>(
        &mut self,
        what: &str,
        command: protocol::Command,
    ) -> Result<T, CaptureError> {
        let seq = self
            .wire
            .send(&command)
            .map_err(|e| unavailable(format!("cannot {what}: {e}")))?;
        self.wire
            .reply(seq)
            .map_err(|e| unavailable(format!("cannot {what}: {e}")))
    }

    fn server_info(&mut self) -> Result<protocol::ServerInfo, CaptureError> {
        self.ask(
            "ask the server for its defaults",
            protocol::Command::GetServerInfo,
        )
    }

    fn sources(&mut self) -> Result<Vec<protocol::SourceInfo>, CaptureError> {
        self.ask("list sources", protocol::Command::GetSourceInfoList)
    }

    /// The default input's name and the default output's monitor's name, now.
    pub fn defaults(&mut self) -> Result<(Option<String>, Option<String>), CaptureError> {
        let info = self.server_info()?;
        let name = |c: Option<CString>| c.map(|c| c.to_string_lossy().into_owned());
        Ok((
            name(info.default_source_name),
            name(info.default_sink_name).map(|s| format!("{s}{MONITOR_SUFFIX}")),
        ))
    }

    /// Every source: inputs and monitors.
    pub fn devices(&mut self) -> Result<Vec<DeviceInfo>, CaptureError> {
        let (default_input, default_monitor) = self.defaults()?;
        Ok(self
            .sources()?
            .into_iter()
            .map(|s| {
                let id = s.name.to_string_lossy().into_owned();
                let kind = if s.monitor_of_sink_index.is_some() {
                    DeviceKind::Monitor
                } else {
                    DeviceKind::Input
                };
                let default = match kind {
                    DeviceKind::Input => default_input.as_deref() == Some(id.as_str()),
                    DeviceKind::Monitor => default_monitor.as_deref() == Some(id.as_str()),
                };
                DeviceInfo {
                    host: HOST.into(),
                    kind,
                    name: s
                        .description
                        .as_ref()
                        .map_or_else(|| id.clone(), |d| d.to_string_lossy().into_owned()),
                    default,
                    sample_rate: Some(s.sample_spec.sample_rate),
                    channels: Some(u16::from(s.sample_spec.channels)),
                    sample_format: Some(format_name(s.sample_spec.format).into()),
                    id,
                }
            })
            .collect())
    }

    /// The source `spec` names now: a named device or monitor by its name (or description),
    /// `default` and `monitor` by what the server's defaults are at this moment.
    pub fn resolve(&mut self, spec: &SourceSpec) -> Result<protocol::SourceInfo, CaptureError> {
        let sources = self.sources()?;
        let named = |name: &str| {
            sources.iter().find(|s| {
                s.name.to_string_lossy() == name
                    || s.description
                        .as_ref()
                        .is_some_and(|d| d.to_string_lossy() == name)
            })
        };
        let (default_input, default_monitor) = self.defaults()?;
        let (wanted, kind) = match spec {
            SourceSpec::Default => (
                default_input.ok_or(CaptureError::NoDefault {
                    host: HOST.into(),
                    what: "default input",
                    hint: "; 'spektr devices' lists what there is",
                })?,
                "input device",
            ),
            SourceSpec::Monitor(None) => (
                default_monitor.ok_or(CaptureError::NoDefault {
                    host: HOST.into(),
                    what: "default output to monitor",
                    hint: "",
                })?,
                "monitor",
            ),
            SourceSpec::Monitor(Some(name)) => {
                let name = name.strip_suffix(MONITOR_SUFFIX).unwrap_or(name);
                (format!("{name}{MONITOR_SUFFIX}"), "monitor")
            }
            SourceSpec::Device(name) => (name.clone(), "input device"),
            SourceSpec::File(_) | SourceSpec::Synth(_) => unreachable!("not a device"),
        };
        let found = named(&wanted).filter(|s| {
            // A monitor asked for is a monitor; a device may be either (a monitor by its name).
            kind != "monitor" || s.monitor_of_sink_index.is_some()
        });
        found.cloned().ok_or(CaptureError::UnknownDevice {
            kind,
            name: wanted,
            host: HOST.into(),
        })
    }
}

/// The server's name for a sample format.
fn format_name(f: protocol::SampleFormat) -> &'static str {
    use protocol::SampleFormat as F;
    match f {
        F::U8 => "u8",
        F::Alaw => "aLaw",
        F::Ulaw => "uLaw",
        F::S16Le => "s16le",
        F::S16Be => "s16be",
        F::Float32Le => "float32le",
        F::Float32Be => "float32be",
        F::S32Le => "s32le",
        F::S32Be => "s32be",
        F::S24Le => "s24le",
        F::S24Be => "s24be",
        F::S24In32Le => "s24-32le",
        F::S24In32Be => "s24-32be",
        F::Invalid => "invalid",
    }
}

/// What the stream asks the server for, and how its bytes become samples (little endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pcm {
    /// Unsigned 8-bit.
    U8,
    /// Signed 16-bit.
    S16,
    /// Signed 24-bit, packed in 3 bytes.
    S24,
    /// Signed 24-bit in the low bytes of 32.
    S24In32,
    /// Signed 32-bit.
    S32,
    /// 32-bit float.
    F32,
}

impl Pcm {
    /// The stream format for a source stored as `f`: the same where spektr reads it (little
    /// endian PCM), else 32-bit float, converted by the server.
    fn for_source(f: protocol::SampleFormat) -> (Self, SampleKind) {
        use protocol::SampleFormat as F;
        match f {
            F::U8 => (Pcm::U8, SampleKind::Int(8)),
            F::S16Le => (Pcm::S16, SampleKind::Int(16)),
            F::S16Be | F::Alaw | F::Ulaw => (Pcm::S16, SampleKind::Int(16)),
            F::S24Le => (Pcm::S24, SampleKind::Int(24)),
            F::S24Be | F::S24In32Le | F::S24In32Be => (Pcm::S24In32, SampleKind::Int(24)),
            F::S32Le | F::S32Be => (Pcm::S32, SampleKind::Int(32)),
            F::Float32Le | F::Float32Be | F::Invalid => (Pcm::F32, SampleKind::Float(32)),
        }
    }

    fn protocol(self) -> protocol::SampleFormat {
        use protocol::SampleFormat as F;
        match self {
            Pcm::U8 => F::U8,
            Pcm::S16 => F::S16Le,
            Pcm::S24 => F::S24Le,
            Pcm::S24In32 => F::S24In32Le,
            Pcm::S32 => F::S32Le,
            Pcm::F32 => F::Float32Le,
        }
    }

    /// Bytes per sample.
    pub fn bytes(self) -> usize {
        match self {
            Pcm::U8 => 1,
            Pcm::S16 => 2,
            Pcm::S24 => 3,
            Pcm::S24In32 | Pcm::S32 | Pcm::F32 => 4,
        }
    }

    /// One sample from its bytes (exactly [`Pcm::bytes`] of them), full scale at +/-1.0.
    #[inline(always)]
    pub fn sample(self, b: &[u8]) -> f32 {
        use super::convert::ToF32;
        match self {
            Pcm::U8 => b[0].to_f32(),
            Pcm::S16 => i16::from_le_bytes([b[0], b[1]]).to_f32(),
            Pcm::S24 => {
                (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 * (1.0 / 8_388_608.0)
            }
            Pcm::S24In32 => {
                // The sample sits in the low 24 bits, sign-extended by the server.
                ((i32::from_le_bytes([b[0], b[1], b[2], b[3]]) << 8) >> 8) as f32
                    * (1.0 / 8_388_608.0)
            }
            Pcm::S32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]).to_f32(),
            Pcm::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }

    /// Pushes the `frames` whole frames in `bytes` into `writer`: one loop per format, so
    /// the format is matched once per block rather than once per sample.
    fn push(self, writer: &mut StreamWriter, frames: usize, bytes: &[u8], sound_end: Instant) {
        #[inline(always)]
        fn each<const N: usize>(
            writer: &mut StreamWriter,
            frames: usize,
            bytes: &[u8],
            sound_end: Instant,
            convert: impl Fn([u8; N]) -> f32,
        ) {
            let (samples, _) = bytes.as_chunks::<N>();
            writer.push_samples(frames, samples.iter().map(|b| convert(*b)), sound_end);
        }
        use super::convert::ToF32;
        let (w, f, b, t) = (writer, frames, bytes, sound_end);
        match self {
            Pcm::U8 => each(w, f, b, t, |[x]| x.to_f32()),
            Pcm::S16 => each(w, f, b, t, |x| i16::from_le_bytes(x).to_f32()),
            Pcm::S24 => each(w, f, b, t, |x: [u8; 3]| Pcm::S24.sample(&x)),
            Pcm::S24In32 => each(w, f, b, t, |x: [u8; 4]| Pcm::S24In32.sample(&x)),
            Pcm::S32 => each(w, f, b, t, |x| i32::from_le_bytes(x).to_f32()),
            Pcm::F32 => each(w, f, b, t, f32::from_le_bytes),
        }
    }
}

/// The record callback's state: runs on the client's reactor thread for every block the
/// server sends. No allocation, lock or wait (the client calls it with its own lock held).
pub struct Feed {
    writer: StreamWriter,
    pcm: Pcm,
    frame_bytes: usize,
    /// The source's latency, µs, as last polled.
    latency_us: Arc<AtomicU64>,
    /// A frame split across two blocks (the server sends whole frames; this is a guard).
    carry: [u8; 4 * crate::config::MAX_CHANNELS],
    carry_len: usize,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("pcm", &self.pcm).finish()
    }
}

impl Feed {
    /// A callback feeding `writer` from blocks of `pcm` samples in `channels` channels; the
    /// source's latency, µs, comes from `latency_us`.
    pub fn new(
        writer: StreamWriter,
        pcm: Pcm,
        channels: usize,
        latency_us: Arc<AtomicU64>,
    ) -> Self {
        Feed {
            writer,
            pcm,
            frame_bytes: pcm.bytes() * channels.max(1),
            latency_us,
            carry: [0; 4 * crate::config::MAX_CHANNELS],
            carry_len: 0,
        }
    }

    /// The callback body: one block of bytes as the server sent it.
    pub fn write(&mut self, data: &[u8]) {
        let now = Instant::now();
        // The block's newest frame was captured this long ago, as the server counts.
        let latency = Duration::from_micros(self.latency_us.load(Ordering::Relaxed));
        let sound_end = now.checked_sub(latency).unwrap_or(now);
        let mut data = data;
        if self.carry_len > 0 {
            let need = (self.frame_bytes - self.carry_len).min(data.len());
            self.carry[self.carry_len..self.carry_len + need].copy_from_slice(&data[..need]);
            self.carry_len += need;
            data = &data[need..];
            if self.carry_len < self.frame_bytes {
                return;
            }
            let frame = &self.carry[..self.frame_bytes];
            self.pcm.push(&mut self.writer, 1, frame, sound_end);
            self.carry_len = 0;
        }
        let whole = data.len() - data.len() % self.frame_bytes;
        let (frames, rest) = data.split_at(whole);
        self.pcm.push(
            &mut self.writer,
            whole / self.frame_bytes,
            frames,
            sound_end,
        );
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carry_len = rest.len();
    }
}

/// One connection to the server, read and written by one thread: packets into a reused buffer.
struct Wire {
    socket: UnixStream,
    version: u16,
    seq: u32,
    /// Bytes read and not yet taken, from `start` to `end`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// A command being encoded.
    out: Vec<u8>,
}

/// A packet in the wire's buffer: its descriptor and where its payload lies.
struct Packet {
    channel: u32,
    payload: std::ops::Range<usize>,
}

/// Room for the largest packet spektr takes whole (a fragment is far smaller).
const WIRE_BUFFER: usize = 1 << 18;

impl Wire {
    /// A connection on `socket`, not yet authorized.
    fn new(socket: UnixStream) -> Self {
        Wire {
            socket,
            version: protocol::MAX_VERSION,
            seq: 0,
            buf: vec![0; WIRE_BUFFER],
            start: 0,
            end: 0,
            out: Vec::with_capacity(4096),
        }
    }

    /// Connects and introduces itself (auth and client name), waiting at most
    /// [`ANSWER_TIMEOUT`] for each answer.
    fn open(server: &Server) -> Result<Wire, String> {
        let socket = UnixStream::connect(&server.socket).map_err(|e| {
            format!(
                "cannot connect to {} (from {}): {e}",
                server.socket.display(),
                server.from
            )
        })?;
        let _ = socket.set_write_timeout(Some(ANSWER_TIMEOUT));
        let mut wire = Wire::new(socket);
        let cookie = pulseaudio::cookie_path_from_env()
            .and_then(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        let seq = wire
            .send(&protocol::Command::Auth(protocol::AuthParams {
                version: protocol::MAX_VERSION,
                supports_shm: false,
                supports_memfd: false,
                cookie,
            }))
            .map_err(|e| e.to_string())?;
        let auth: protocol::AuthReply = wire.reply(seq)?;
        wire.version = protocol::MAX_VERSION.min(auth.version);
        let mut props = protocol::Props::new();
        props.set(protocol::Prop::ApplicationName, c"spektr");
        let seq = wire
            .send(&protocol::Command::SetClientName(props))
            .map_err(|e| e.to_string())?;
        let _: protocol::SetClientNameReply = wire.reply(seq)?;
        Ok(wire)
    }

    /// Sends a command; its sequence number.
    fn send(&mut self, command: &protocol::Command) -> std::io::Result<u32> {
        use std::io::Write;
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.out.clear();
        let n = protocol::encode_command_message(&mut self.out, seq, command, self.version)
            .map_err(std::io::Error::other)?;
        (&self.socket).write_all(&self.out[..n])?;
        Ok(seq)
    }

    /// Whether a whole packet is in the buffer already.
    fn has_packet(&self) -> bool {
        let have = self.end - self.start;
        have >= protocol::DESCRIPTOR_SIZE && {
            let h = &self.buf[self.start..self.start + 4];
            have >= protocol::DESCRIPTOR_SIZE
                + u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize
        }
    }

    /// The next whole packet, reading as needed; `None` when the socket's read timeout passed
    /// first (the bytes read so far stay for the next call).
    fn next_packet(&mut self) -> std::io::Result<Option<Packet>> {
        use std::io::Read;
        loop {
            let have = self.end - self.start;
            if have >= protocol::DESCRIPTOR_SIZE {
                let head = &self.buf[self.start..self.start + protocol::DESCRIPTOR_SIZE];
                let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
                let channel = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
                let total = protocol::DESCRIPTOR_SIZE + len;
                if have >= total {
                    let from = self.start + protocol::DESCRIPTOR_SIZE;
                    self.start += total;
                    return Ok(Some(Packet {
                        channel,
                        payload: from..from + len,
                    }));
                }
                if total > self.buf.len() {
                    // Larger than the buffer (a long device list): grow, once.
                    self.buf.resize(total, 0);
                }
            }
            // Room at the end: move what is left to the front.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match (&self.socket).read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.end += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until the reply to `seq` comes (data and notices meanwhile are dropped: nothing
    /// streams yet), within [`ANSWER_TIMEOUT`].
    fn reply<T: protocol::CommandReply>(&mut self, seq: u32) -> Result<T, String> {
        let _ = self.socket.set_read_timeout(Some(ANSWER_TIMEOUT));
        loop {
            let packet = self
                .next_packet()
                .map_err(|e| format!("the server closed the connection ({e})"))?
                .ok_or_else(|| {
                    format!(
                        "the server did not answer within {} s",
                        ANSWER_TIMEOUT.as_secs()
                    )
                })?;
            if packet.channel != u32::MAX {
                continue;
            }
            match self.control(&packet) {
                Control::Reply(s, mut payload) if s == seq => {
                    let mut ts = protocol::TagStructReader::new(&mut payload, self.version);
                    return T::read(&mut ts, self.version).map_err(|e| e.to_string());
                }
                Control::Error(s, e) if s == seq => return Err(format!("{e:?}")),
                _ => {}
            }
        }
    }

    /// What a control packet says.
    fn control(&self, packet: &Packet) -> Control<'_> {
        let mut payload = std::io::Cursor::new(&self.buf[packet.payload.clone()]);
        match protocol::Command::read_tag_prefixed(&mut payload, self.version) {
            Ok((seq, protocol::Command::Reply)) => Control::Reply(seq, payload),
            Ok((seq, protocol::Command::Error(e))) => Control::Error(seq, e),
            Ok((_, protocol::Command::RecordStreamKilled(_))) => Control::Killed,
            Ok((_, protocol::Command::PlaybackStreamKilled(_))) => Control::Killed,
            Ok((_, protocol::Command::Request(r))) => Control::Request(r.channel, r.length),
            _ => Control::Other,
        }
    }
}

/// A control packet, as far as a capture cares.
enum Control<'a> {
    /// The reply to a command, its payload after the tag.
    Reply(u32, std::io::Cursor<&'a [u8]>),
    /// A command failed.
    Error(u32, protocol::PulseError),
    /// The server ended the stream (its source or sink went away).
    Killed,
    /// A playback stream's server asks for this many bytes.
    Request(u32, u32),
    /// Anything else (events, suspend notices).
    Other,
}

/// How much a playback stream is asked for at a time, and how much the server keeps queued:
/// the generator's level changes (its fades, a stop) reach the speakers this soon.
const PLAYBACK_BLOCK_S: f64 = 0.02;
const PLAYBACK_QUEUE_S: f64 = 0.08;

/// Plays what `make(rate, channels)` gives to the sink `device` names (by name or
/// description; `None`: the default output), at the sink's own rate and channels, on a thread
/// of its own ("spektr-generator") in blocks as the server asks for them. `done` hears the
/// end: `Ok` once the signal ended (or faded out after a stop) and the server played it, else
/// why not.
pub fn play(
    device: Option<&str>,
    make: impl FnOnce(u32, usize) -> Result<crate::generate::Signal, CaptureError>,
    done: std::sync::mpsc::Sender<Result<(), String>>,
) -> Result<(crate::generate::Output, Arc<AtomicU64>), CaptureError> {
    let mut conn = Connection::open()?;
    let sinks: Vec<protocol::SinkInfo> =
        conn.ask("list outputs", protocol::Command::GetSinkInfoList)?;
    let wanted = match device {
        Some(d) => d.to_owned(),
        None => conn
            .server_info()?
            .default_sink_name
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or(CaptureError::NoDefault {
                host: HOST.into(),
                what: "default output",
                hint: "; 'pactl list short sinks' lists the outputs",
            })?,
    };
    let sink = sinks
        .iter()
        .find(|s| {
            s.name.to_string_lossy() == wanted
                || s.description
                    .as_ref()
                    .is_some_and(|d| d.to_string_lossy() == wanted)
        })
        .ok_or(CaptureError::UnknownOutput {
            name: wanted.clone(),
            host: HOST.into(),
        })?;
    let name = sink.name.to_string_lossy().into_owned();
    let spec = sink.sample_spec;
    let (rate, channels) = (spec.sample_rate, usize::from(spec.channels));
    let frame_bytes = 4 * channels.max(1);
    let bytes = |s: f64| ((s * f64::from(rate)) as usize * frame_bytes) as u32;
    let mut props = protocol::Props::new();
    props.set(protocol::Prop::MediaName, c"spektr test signal");
    props.set(protocol::Prop::ApplicationName, c"spektr");
    let params = protocol::PlaybackStreamParams {
        sample_spec: protocol::SampleSpec {
            format: protocol::SampleFormat::Float32Le,
            channels: spec.channels,
            sample_rate: rate,
        },
        channel_map: sink.channel_map,
        sink_index: Some(sink.index),
        buffer_attr: protocol::stream::BufferAttr {
            max_length: bytes(4.0 * PLAYBACK_QUEUE_S),
            target_length: bytes(PLAYBACK_QUEUE_S),
            pre_buffering: bytes(PLAYBACK_BLOCK_S),
            minimum_request_length: bytes(PLAYBACK_BLOCK_S),
            ..Default::default()
        },
        // At the level generated: the stream's own volume at 100 % (the sink's is the user's).
        cvolume: Some(protocol::ChannelVolume::norm(spec.channels)),
        props,
        flags: protocol::stream::StreamFlags {
            no_move: device.is_some(),
            ..Default::default()
        },
        ..Default::default()
    };
    let open_err = |reason: String| CaptureError::Open {
        device: name.clone(),
        reason,
    };
    let mut wire = conn.wire;
    let seq = wire
        .send(&protocol::Command::CreatePlaybackStream(params))
        .map_err(|e| open_err(e.to_string()))?;
    let reply: protocol::CreatePlaybackStreamReply = wire.reply(seq).map_err(open_err)?;
    // Checked at the sink's rate (the stream closes with the connection if it is refused).
    let mut signal = make(rate, channels)?;
    let played = signal.played();
    let output = crate::generate::Output {
        description: sink
            .description
            .as_ref()
            .map_or_else(|| name.clone(), |d| d.to_string_lossy().into_owned()),
        device: name.clone(),
        host: HOST,
        rate,
        channels,
    };
    let spawned = std::thread::Builder::new()
        .name("spektr-generator".into())
        .spawn(move || {
            let result = feed_playback(&mut wire, &reply, &mut signal, frame_bytes);
            let _ = wire.send(&protocol::Command::DeletePlaybackStream(reply.channel));
            let _ = done.send(result);
        });
    spawned.map_err(|e| open_err(format!("cannot start the generator's thread: {e}")))?;
    Ok((output, played))
}

/// The playback stream's loop: a block of the signal for each request, until it ends; then
/// the server plays out what it holds.
fn feed_playback(
    wire: &mut Wire,
    reply: &protocol::CreatePlaybackStreamReply,
    signal: &mut crate::generate::Signal,
    frame_bytes: usize,
) -> Result<(), String> {
    let channel = reply.channel;
    let mut samples: Vec<f32> = Vec::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut send = |wire: &mut Wire, length: u32| -> Result<bool, String> {
        let frames = length as usize / frame_bytes;
        samples.clear();
        samples.resize(frames * frame_bytes / 4, 0.0);
        let going = signal.fill(&mut samples);
        bytes.clear();
        bytes.extend(samples.iter().flat_map(|v| v.to_le_bytes()));
        protocol::write_memblock(&mut &wire.socket, channel, &bytes, 0)
            .map_err(|e| format!("the output stopped taking sound ({e})"))?;
        Ok(going)
    };
    let mut going = send(wire, reply.requested_bytes)?;
    let _ = wire.socket.set_read_timeout(Some(ANSWER_TIMEOUT));
    let mut drain = None;
    loop {
        let packet = wire
            .next_packet()
            .map_err(|e| format!("the server closed the connection ({e})"))?
            .ok_or("the server stopped asking for sound")?;
        if packet.channel != u32::MAX {
            continue;
        }
        match wire.control(&packet) {
            Control::Request(c, length) if c == channel && going => {
                going = send(wire, length)?;
            }
            Control::Reply(s, _) if Some(s) == drain => return Ok(()),
            Control::Error(s, e) if Some(s) == drain => {
                return Err(format!("the output did not play out: {e:?}"));
            }
            Control::Error(_, e) => return Err(format!("the server refused: {e:?}")),
            Control::Killed => return Err("the output went away".into()),
            _ => {}
        }
        if !going && drain.is_none() {
            drain = Some(
                wire.send(&protocol::Command::DrainPlaybackStream(channel))
                    .map_err(|e| format!("the server closed the connection ({e})"))?,
            );
        }
    }
}

/// A record stream on one source, read by its own thread.
pub struct PulseStream {
    /// The source's name.
    pub device: String,
    /// Its description.
    pub description: String,
    /// Rate and channels.
    pub format: StreamFormat,
    /// The source's own sample format, as the server names it.
    pub sample_format: String,
    /// How the source's samples are stored.
    pub kind: SampleKind,
    /// Frames per block the server agreed to send.
    pub block_frames: u32,
    /// Set by the engine's reading when the stream or the server went away.
    pub fault: Arc<StreamFault>,
    /// For a source that follows a default: a connection to ask for the defaults, whether it
    /// is the output's monitor, and when it last asked.
    follow: Option<(Connection, bool, Instant)>,
    /// When the server last answered.
    alive_ms: Arc<AtomicU64>,
    started: Instant,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for PulseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PulseStream")
            .field("device", &self.device)
            .field("format", &self.format)
            .finish()
    }
}

impl PulseStream {
    /// Opens a record stream on the source `spec` names, pinned to it, in blocks of
    /// `period_ms`. For `default` and `monitor` the stream is pinned too, and
    /// [`PulseStream::default_moved`] says when the default changes, so the supervisor can
    /// reopen on the new one and say so.
    pub fn open(spec: &SourceSpec, period_ms: f64) -> Result<(Self, StreamReader), CaptureError> {
        let mut conn = Connection::open()?;
        let source = conn.resolve(spec)?;
        let device = source.name.to_string_lossy().into_owned();
        let open_err = |reason: String| CaptureError::Open {
            device: device.clone(),
            reason,
        };
        let description = source
            .description
            .as_ref()
            .map_or_else(|| device.clone(), |d| d.to_string_lossy().into_owned());
        let spec_in = source.sample_spec;
        let format = StreamFormat {
            sample_rate: spec_in.sample_rate,
            channels: usize::from(spec_in.channels),
        }
        .validate()?;
        let (pcm, kind) = Pcm::for_source(spec_in.format);
        let frame_bytes = pcm.bytes() * format.channels;
        let rate = f64::from(format.sample_rate);
        let period_frames = (period_ms / 1000.0 * rate).round().max(1.0) as u32;
        let bytes = |frames: f64| (frames as usize * frame_bytes).min(u32::MAX as usize) as u32;
        let mut props = protocol::Props::new();
        props.set(protocol::Prop::MediaName, c"spektr analysis");
        props.set(protocol::Prop::ApplicationName, c"spektr");
        let params = protocol::RecordStreamParams {
            sample_spec: protocol::SampleSpec {
                format: pcm.protocol(),
                channels: spec_in.channels,
                sample_rate: spec_in.sample_rate,
            },
            channel_map: source.channel_map,
            source_index: Some(source.index),
            source_name: None,
            buffer_attr: protocol::stream::BufferAttr {
                max_length: bytes(SERVER_BUFFER_S * rate + f64::from(period_frames)),
                fragment_size: bytes(f64::from(period_frames)),
                ..Default::default()
            },
            flags: protocol::stream::StreamFlags {
                // The source runs in blocks of the period (a monitor's output too), and the
                // stream never moves to another source behind spektr's back.
                adjust_latency: true,
                no_move: true,
                ..Default::default()
            },
            props,
            ..Default::default()
        };
        // The same connection carries the stream from here on.
        let mut wire = conn.wire;
        let seq = wire
            .send(&protocol::Command::CreateRecordStream(params))
            .map_err(|e| open_err(e.to_string()))?;
        let reply: protocol::CreateRecordStreamReply = wire.reply(seq).map_err(open_err)?;
        let block_frames = reply.buffer_attr.fragment_size / frame_bytes.max(1) as u32;
        let (writer, mut reader) = crate::stream::channel(format, true);
        let _ = wire.socket.set_read_timeout(Some(PUMP_WAIT));
        let capturing = Capturing::new(wire, reply.channel, writer, pcm, format, block_frames);
        let (fault, alive_ms, stop, started) = (
            capturing.fault.clone(),
            capturing.alive_ms.clone(),
            capturing.stop.clone(),
            capturing.started,
        );
        reader.pump = Some(Box::new(capturing));
        let follow = match spec {
            SourceSpec::Default => Some(false),
            SourceSpec::Monitor(None) => Some(true),
            _ => None,
        }
        .map(|monitor| Connection::open().map(|c| (c, monitor, Instant::now())))
        .transpose()?;
        Ok((
            PulseStream {
                device,
                description,
                format,
                sample_format: format_name(spec_in.format).into(),
                kind,
                block_frames,
                fault,
                follow,
                alive_ms,
                started,
                stop,
            },
            reader,
        ))
    }

    /// For a stream that follows a default: the name of the new default, once it is another
    /// device (asked every [`DEFAULT_POLL`], from the supervisor's thread).
    pub fn default_moved(&mut self) -> Option<String> {
        let (conn, monitor, last) = self.follow.as_mut()?;
        if last.elapsed() < DEFAULT_POLL {
            return None;
        }
        *last = Instant::now();
        let (input, output_monitor) = conn.defaults().ok()?;
        let now = if *monitor { output_monitor } else { input };
        now.filter(|n| *n != self.device)
    }

    /// Whether the server has stopped answering (its last answer is older than the timeout).
    pub fn unresponsive(&self) -> bool {
        let last = Duration::from_millis(self.alive_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last) > ANSWER_TIMEOUT + POLL
    }
}

impl Drop for PulseStream {
    fn drop(&mut self) {
        // The engine's next look at the socket ends the capture and closes the connection
        // (the server then deletes the stream).
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How long the engine waits on the socket at most: bounds how long a command to the engine
/// (new settings, a recording, stop) waits when the source sends nothing.
const PUMP_WAIT: Duration = Duration::from_millis(50);

/// Makes reads of `socket` wait until `bytes` are there (or the read timeout passes):
/// `SO_RCVLOWAT`, which std does not offer.
#[allow(unsafe_code)]
fn set_low_water(socket: &UnixStream, bytes: usize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value: libc::c_int = bytes.clamp(1, i32::MAX as usize) as libc::c_int;
    // SAFETY: the descriptor belongs to `socket`, open for the whole call; the option's value
    // is a c_int on the stack whose size is passed beside it, as SO_RCVLOWAT takes.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A wake this close to its time is not worth a sleep.
const PACING_SLACK: Duration = Duration::from_micros(300);
/// How late after a tick the engine reads the socket: timer and scheduling jitter then rarely
/// wake it before the tick's blocks are there.
const PACING_MARGIN: Duration = Duration::from_micros(500);
/// How much earlier each read that found its blocks waiting is made: the prediction so walks
/// back to the tick's true time and is corrected by the read that waits, never drifting
/// later than the margin. A read that waits is a wake more: at 60 reads a second this step
/// makes one about every 50 reads (a 50 us step made one every 10, 13 wakes a second of 93),
/// and still follows a server clock 600 ppm off (a phase that jumps is seen anew within
/// [`PACING_SEEN_FOR`]).
const PACING_STEP: Duration = Duration::from_micros(10);
/// A read that took longer than this waited for its block: it returned as the block came.
const PACING_WAITED: Duration = Duration::from_micros(150);
/// How long a tick seen dates the ones after it.
const PACING_SEEN_FOR: Duration = Duration::from_secs(2);
/// Timed reads judged together, and how many of them may wait before the timer is given up
/// for [`PACING_OFF_FOR`] (the server's ticks are not what the pacing takes them for).
const PACING_ROUND: u32 = 32;
const PACING_MISSES: u32 = 16;
const PACING_OFF_FOR: Duration = Duration::from_secs(2);

/// When the server's next blocks come. The server sends on ticks one fragment period apart
/// (each time its source has made a fragment, in one packet or split across two), so a tick seen
/// (a read that waited for a block returned then) dates the ones after it, and the frames still
/// missing say how many ticks on the frame is complete.
#[derive(Debug)]
struct Pacing {
    /// A read that waited for a block returned then: a tick.
    tick: Option<Instant>,
    /// From one tick to the next, and the frames a tick brings.
    period: Duration,
    block: u64,
    /// A read of the socket that waited returned at this time (its blocks not yet taken).
    waited: Option<Instant>,
    /// When the last read returned: every tick before it has been read.
    last_read: Option<Instant>,
    /// How much earlier than predicted the next read is made.
    early: Duration,
    /// Whether the current read was made at the timer's word; timed reads in this round,
    /// how many of them waited, and until when the timer is off.
    timed: bool,
    reads: u32,
    misses: u32,
    off_until: Option<Instant>,
    /// The last timed read found too few frames: the next read waits on the socket.
    short: bool,
}

impl Pacing {
    fn new(block_frames: u32, rate: u32) -> Self {
        let block = u64::from(block_frames.max(1));
        Pacing {
            tick: None,
            period: Duration::from_secs_f64(block as f64 / f64::from(rate.max(1))),
            block,
            waited: None,
            last_read: None,
            early: Duration::ZERO,
            timed: false,
            reads: 0,
            misses: 0,
            off_until: None,
            short: false,
        }
    }

    /// When the tick that completes `frames` more frames has come (`None`: no tick seen
    /// lately, or the timer is off; the read then waits on the socket).
    fn due(&self, frames: u64, now: Instant) -> Option<Instant> {
        if self.short || self.off_until.is_some_and(|t| now < t) {
            return None;
        }
        // An old sighting may have the phase wrong (the source was suspended, the server
        // re-timed it): waiting for the block then sees a tick anew.
        let tick = self.tick.filter(|t| now - *t < PACING_SEEN_FOR)?;
        // Ticks bring a fragment on average, a little more or less each time: when the frame
        // needs just over whole ticks, read at the earlier one (a read too early waits for the
        // next tick, one wake more; one too late delays the frame by a tick, and waking for
        // the tick by which the fewest frames seen lately have come cost PipeWire's pulse
        // server 15 ms at the median for 11 wakes a second of 93).
        let ticks = frames
            .saturating_sub(self.block / 8)
            .div_ceil(self.block)
            .max(1);
        // The first tick not yet read: the one after the last read (not after `now`, so the
        // look after the sleep finds the same time, come).
        let period = self.period.as_secs_f64().max(1e-4);
        let from = self.last_read.unwrap_or(now).max(tick);
        let next = ((from - tick).as_secs_f64() / period).floor() + 1.0;
        let at = tick + self.period.mul_f64(next + (ticks - 1) as f64) + PACING_MARGIN;
        Some(at.checked_sub(self.early).unwrap_or(now).max(now))
    }

    /// The timer woke the engine for a read.
    fn timer(&mut self) {
        self.timed = true;
    }

    /// A read of the socket is to be made: whether the timer woke the engine for it is
    /// decided anew, and a short read's wait for the rest is that read.
    fn next_read(&mut self) {
        self.timed = false;
        self.short = false;
    }

    /// A read of the socket began at `from` and returned at `to`.
    fn read(&mut self, from: Instant, to: Instant) {
        self.last_read = Some(to);
        // A read that ran out its timeout returned what it had then, not as a block came.
        let took = to - from;
        self.waited = (took > PACING_WAITED && took < PUMP_WAIT * 9 / 10).then_some(to);
        if self.waited.is_none() {
            self.early = (self.early + PACING_STEP).min(PACING_MARGIN * 4);
        }
    }

    /// A timed read for `needed` frames found `got`. A whole block more than it needed: the
    /// read came a tick late (the server ticks faster or less evenly than the pacing thinks),
    /// and the next read waits for a block, which shows the ticks anew.
    /// NOTE: waiting for three such reads in a row (one may be the server's unevenness, a tick
    /// that brings a block and a half) spared PulseAudio some wakes but left PipeWire's pulse
    /// server, which sends a quantum's fragments together, a tick late for longer: sound to
    /// NDJSON 28 ms at the median instead of 13-19 ms.
    ///
    /// Too few (a tick split in two packets, or a read a little early that returned with the
    /// first): the next read waits on the socket for the rest, rather than for the tick after.
    fn brought(&mut self, needed: u64, got: u64) {
        self.short = got < needed;
        if got >= needed + self.block {
            self.tick = None;
            self.misses += 1;
        }
    }

    /// A block of the stream was taken (a reply to a question is no tick).
    fn block(&mut self, now: Instant) {
        if let Some(at) = self.waited.take() {
            self.tick = Some(at);
            self.early = Duration::ZERO;
            self.misses += u32::from(self.timed);
        }
        if std::mem::take(&mut self.timed) {
            self.reads += 1;
            if self.reads == PACING_ROUND {
                if self.misses > PACING_MISSES {
                    self.off_until = Some(now + PACING_OFF_FOR);
                }
                (self.reads, self.misses) = (0, 0);
            }
        }
    }
}

/// How long `bytes` of audio last, µs, in frames of `frame_bytes` at `rate`.
fn bytes_to_us(bytes: u64, frame_bytes: u64, rate: u32) -> u64 {
    (bytes / frame_bytes.max(1)).saturating_mul(1_000_000) / u64::from(rate.max(1))
}

/// A capture as the engine reads it: the wire, the callback, and what it tells the supervisor.
struct Capturing {
    wire: Wire,
    channel: u32,
    latency_us: Arc<AtomicU64>,
    /// The callback, made at the first block (the stream's writer moves into it).
    feed: Option<Feed>,
    writer: Option<StreamWriter>,
    pcm: Pcm,
    channels: usize,
    latency_seq: Option<u32>,
    last_latency: Option<Instant>,
    /// Frames per block the server sends, and the low-water mark set last.
    block_frames: u32,
    low_water: usize,
    /// When the block that completes the next frame will come, so the engine sleeps until then.
    pacing: Pacing,
    /// Frames per second.
    rate: u32,
    fault: Arc<StreamFault>,
    alive_ms: Arc<AtomicU64>,
    started: Instant,
    stop: Arc<AtomicBool>,
}

impl crate::stream::Pump for Capturing {
    /// One look at the socket: a block for the callback, or the answer to the latency
    /// question (asked every [`POLL`]; a question that fails says the stream is gone).
    fn pump(&mut self, frames: u64) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        // Wake when the blocks that complete the next frame are there, not at every block:
        // the frame cannot be published sooner, and a wake is most of what a block costs.
        // (Only when the next read is to wait: a packet already in the buffer needs none.)
        let waits = !self.wire.has_packet();
        if waits {
            // A blocked read is woken by every block the server sends, enough or not; a timer
            // set for the block that completes the frame wakes once.
            let now = Instant::now();
            let due = self.pacing.due(frames, now);
            self.pacing.next_read();
            match due {
                Some(due) if due > now + PACING_SLACK => {
                    std::thread::park_timeout((due - now).min(PUMP_WAIT));
                    return true;
                }
                Some(_) => self.pacing.timer(),
                None => {}
            }
            // A timed read comes after the tick that completes the frame: its blocks are
            // there, or the first to come completes it. Waiting for any byte then (the same
            // mark each time) spares a system call per read; a read that waits for the whole
            // frame wants its size (the bytes in the buffer already included).
            let wanted = if self.pacing.timed {
                1
            } else {
                let frame_bytes = self.pcm.bytes() * self.channels;
                let blocks = frames.div_ceil(u64::from(self.block_frames.max(1))).max(1);
                let frame_total =
                    frames as usize * frame_bytes + blocks as usize * protocol::DESCRIPTOR_SIZE;
                frame_total
                    .saturating_sub(self.wire.end - self.wire.start)
                    .max(1)
            };
            if wanted != self.low_water && set_low_water(&self.wire.socket, wanted).is_ok() {
                self.low_water = wanted;
            }
        }
        let now = Instant::now();
        if self.latency_seq.is_none() && self.last_latency.is_none_or(|t| now - t >= POLL) {
            self.last_latency = Some(now);
            let ask = protocol::Command::GetRecordLatency(protocol::LatencyParams {
                channel: self.channel,
                now: std::time::SystemTime::now(),
            });
            match self.wire.send(&ask) {
                Ok(seq) => self.latency_seq = Some(seq),
                Err(_) => return self.lost(Fault::HostLost),
            }
        }
        let packet = match self.wire.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return true,
            Err(_) => return self.lost(Fault::HostLost),
        };
        if waits {
            if self.pacing.timed {
                // What this read brought (the packet taken and what is left; a reply among
                // them is counted too), against what the frame needed.
                let frame_bytes = self.pcm.bytes() * self.channels;
                let got = (self.wire.end - self.wire.start + packet.payload.len()) / frame_bytes;
                self.pacing.brought(frames, got as u64);
            }
            self.pacing.read(now, Instant::now());
        }
        if packet.channel == self.channel {
            self.pacing.block(now);
            if self.feed.is_none()
                && let Some(writer) = self.writer.take()
            {
                self.feed = Some(Feed::new(
                    writer,
                    self.pcm,
                    self.channels,
                    self.latency_us.clone(),
                ));
            }
            if let Some(feed) = self.feed.as_mut() {
                feed.write(&self.wire.buf[packet.payload]);
            }
            return true;
        }
        if packet.channel != u32::MAX {
            return true;
        }
        let version = self.wire.version;
        match self.wire.control(&packet) {
            Control::Reply(seq, mut payload) if Some(seq) == self.latency_seq => {
                self.latency_seq = None;
                let mut ts = protocol::TagStructReader::new(&mut payload, version);
                if let Ok(t) =
                    <protocol::RecordLatency as protocol::TagStructRead>::read(&mut ts, version)
                {
                    // The source's latency, and what waits for this stream in the server's
                    // buffer (not yet sent: a reader that fell behind sees it grow). What
                    // follows the reply on the socket was in that buffer when it was made.
                    let queued = t
                        .write_offset
                        .saturating_sub(t.read_offset)
                        .max(0)
                        .unsigned_abs();
                    let frame_bytes = (self.pcm.bytes() * self.channels) as u64;
                    self.latency_us.store(
                        t.source_usec
                            .saturating_add(bytes_to_us(queued, frame_bytes, self.rate)),
                        Ordering::Relaxed,
                    );
                }
                self.alive_ms
                    .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
                true
            }
            // The server no longer knows the stream, or ended it: its source went away.
            Control::Error(seq, _) if Some(seq) == self.latency_seq => self.lost(Fault::DeviceLost),
            Control::Killed => self.lost(Fault::DeviceLost),
            _ => true,
        }
    }
}

impl Capturing {
    /// The reader of `channel` on `wire`, pushing into `writer`; its server sends blocks of
    /// about `block_frames`.
    fn new(
        wire: Wire,
        channel: u32,
        writer: StreamWriter,
        pcm: Pcm,
        format: StreamFormat,
        block_frames: u32,
    ) -> Self {
        let channels = format.channels;
        Capturing {
            wire,
            channel,
            latency_us: Arc::new(AtomicU64::new(0)),
            feed: None,
            writer: Some(writer),
            pcm,
            channels,
            latency_seq: None,
            last_latency: None,
            block_frames,
            low_water: 1,
            pacing: Pacing::new(block_frames, format.sample_rate),
            rate: format.sample_rate,
            fault: Arc::new(StreamFault::default()),
            alive_ms: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The stream or the server is gone: tell the supervisor, and end.
    fn lost(&mut self, fault: Fault) -> bool {
        self.fault.set(fault);
        false
    }
}

/// A capture read from `socket` (already connected, the record stream `channel` created on
/// it), for tests that play the server: the engine reads it as it reads a real one.
pub fn capture_from(
    socket: UnixStream,
    channel: u32,
    pcm: Pcm,
    format: StreamFormat,
) -> StreamReader {
    let (writer, mut reader) = crate::stream::channel(format, true);
    let _ = socket.set_read_timeout(Some(PUMP_WAIT));
    let wire = Wire::new(socket);
    reader.pump = Some(Box::new(Capturing::new(
        wire, channel, writer, pcm, format, 441,
    )));
    reader
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_server_is_found_where_libpulse_looks() {
        let only = |p: &'static str| move |q: &Path| q == Path::new(p);
        // PULSE_RUNTIME_PATH is the folder holding `native`.
        let s = find_server_in(
            env(&[
                ("PULSE_RUNTIME_PATH", "/r/pulse"),
                ("XDG_RUNTIME_DIR", "/x"),
            ]),
            only("/r/pulse/native"),
        )
        .expect("found");
        assert_eq!(s.socket, Path::new("/r/pulse/native"));
        assert_eq!(s.from, "PULSE_RUNTIME_PATH");
        let s = find_server_in(env(&[("XDG_RUNTIME_DIR", "/x")]), only("/x/pulse/native"))
            .expect("found");
        assert_eq!(s.socket, Path::new("/x/pulse/native"));
        // PULSE_SERVER: the first local entry that exists, prefixes and all.
        let s = find_server_in(
            env(&[("PULSE_SERVER", "tcp:host {abc}unix:/a/native /b/native")]),
            only("/b/native"),
        )
        .expect("found");
        assert_eq!(s.socket, Path::new("/b/native"));
        // Nothing there: the error names what was looked for.
        let e = find_server_in(env(&[("XDG_RUNTIME_DIR", "/x")]), |_| false)
            .expect_err("none")
            .to_string();
        assert!(e.contains("/x/pulse/native (from XDG_RUNTIME_DIR)"), "{e}");
        let e = find_server_in(env(&[("PULSE_SERVER", "unix:/gone")]), |_| false)
            .expect_err("none")
            .to_string();
        assert!(e.contains("/gone (no such socket)"), "{e}");
    }

    #[test]
    fn bytes_become_samples_at_full_scale() {
        assert_eq!(Pcm::S16.sample(&i16::MIN.to_le_bytes()), -1.0);
        assert_eq!(Pcm::S16.sample(&16_384i16.to_le_bytes()), 0.5);
        // Packed 24-bit: -2^23 and 2^22.
        assert_eq!(Pcm::S24.sample(&[0x00, 0x00, 0x80]), -1.0);
        assert_eq!(Pcm::S24.sample(&[0x00, 0x00, 0x40]), 0.5);
        // 24 in 32, sign in bit 23.
        assert_eq!(Pcm::S24In32.sample(&[0x00, 0x00, 0x80, 0xff]), -1.0);
        assert_eq!(Pcm::S24In32.sample(&[0x00, 0x00, 0x40, 0x00]), 0.5);
        assert_eq!(Pcm::S32.sample(&(1i32 << 30).to_le_bytes()), 0.5);
        assert_eq!(Pcm::F32.sample(&0.25f32.to_le_bytes()), 0.25);
        assert_eq!(Pcm::U8.sample(&[192]), 0.5);
    }

    #[test]
    fn blocks_of_every_format_reach_the_stream_as_the_samples_they_hold() {
        let cases: [(Pcm, Vec<u8>); 6] = [
            (Pcm::U8, vec![0, 192, 128, 64]),
            (
                Pcm::S16,
                [i16::MIN, 16_384, 0, -16_384]
                    .map(i16::to_le_bytes)
                    .concat(),
            ),
            (Pcm::S24, vec![0, 0, 0x80, 0, 0, 0x40, 0, 0, 0, 0, 0, 0xc0]),
            (
                Pcm::S24In32,
                vec![
                    0, 0, 0x80, 0xff, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff,
                ],
            ),
            (
                Pcm::S32,
                [i32::MIN, 1 << 30, 0, -(1 << 30)]
                    .map(i32::to_le_bytes)
                    .concat(),
            ),
            (
                Pcm::F32,
                [-1.0f32, 0.5, 0.0, -0.5].map(f32::to_le_bytes).concat(),
            ),
        ];
        for (pcm, bytes) in cases {
            let format = StreamFormat {
                sample_rate: 48_000,
                channels: 2,
            };
            let (writer, mut reader) = crate::stream::channel(format, true);
            let mut feed = Feed::new(writer, pcm, 2, Arc::new(AtomicU64::new(0)));
            // Split inside the second frame: the frame is carried over to the next block.
            let cut = pcm.bytes() * 2 + 1;
            feed.write(&bytes[..cut]);
            feed.write(&bytes[cut..]);
            let got: Vec<f32> = std::iter::from_fn(|| reader.samples.pop().ok()).collect();
            assert_eq!(got, [-1.0, 0.5, 0.0, -0.5], "{pcm:?}");
        }
    }

    fn ms(m: f64) -> Duration {
        Duration::from_secs_f64(m / 1000.0)
    }

    /// Pacing at 441-frame blocks of 44.1 kHz (10 ms ticks) that saw a tick: a read made at
    /// `t0` waited `waited_ms` for its block. Returns the tick.
    fn ticked(t0: Instant, waited_ms: f64) -> (Pacing, Instant) {
        let mut p = Pacing::new(441, 44_100);
        let tick = t0 + ms(waited_ms);
        p.read(t0, tick);
        p.block(tick);
        (p, tick)
    }

    #[test]
    fn the_engine_sleeps_until_the_tick_that_completes_its_frame() {
        let t0 = Instant::now();
        // Nothing seen yet: the read waits on the socket.
        assert_eq!(Pacing::new(441, 44_100).due(735, t0), None);
        // A read that waited 4 ms returned with a block: a tick at t0 + 4 ms.
        let (mut p, tick) = ticked(t0, 4.0);
        // 735 frames more come with the second tick from now (10 ms apart); read just after it.
        let due = tick + ms(20.0) + PACING_MARGIN;
        assert_eq!(p.due(735, tick + ms(1.0)), Some(due));
        // Woken then, the engine looks again and finds the time come (not a tick later).
        assert_eq!(p.due(735, due), Some(due));
        // Just over a tick's 441 frames: the earlier tick (a tick may bring a little more).
        assert_eq!(
            p.due(460, tick + ms(1.0)),
            Some(tick + ms(10.0) + PACING_MARGIN)
        );
        // A read that found its blocks waiting moves the next one earlier by a step.
        p.timer();
        p.read(tick + ms(20.5), tick + ms(20.51));
        p.block(tick + ms(20.51));
        assert_eq!(
            p.due(441, tick + ms(21.0)),
            Some(tick + ms(30.0) + PACING_MARGIN - PACING_STEP)
        );
        // Until one waits again: that is the tick from now on, and the steps are undone.
        p.timer();
        p.read(tick + ms(29.9), tick + ms(30.1));
        p.block(tick + ms(30.1));
        let tick = tick + ms(30.1);
        assert_eq!(p.due(441, tick), Some(tick + ms(10.0) + PACING_MARGIN));
        // A tick seen too long ago dates nothing: the read waits for a block again.
        assert_eq!(p.due(441, tick + PACING_SEEN_FOR), None);
        // A reply to a question that comes while the read waits is no tick.
        p.read(tick + ms(40.6), tick + ms(43.0));
        assert_eq!(
            p.due(441, tick + ms(43.1)),
            Some(tick + ms(50.0) + PACING_MARGIN)
        );
        // A read that ran out its timeout (it returned what it had) is no tick either.
        p.read(tick + ms(43.2), tick + ms(43.2) + PUMP_WAIT);
        p.block(tick + ms(43.2) + PUMP_WAIT);
        assert_eq!(
            p.due(441, tick + ms(93.3)),
            Some(tick + ms(100.0) + PACING_MARGIN - PACING_STEP)
        );
    }

    #[test]
    fn reads_a_tick_late_make_the_next_one_wait_for_a_block() {
        let t0 = Instant::now();
        let (mut p, _) = ticked(t0, 2.0);
        let now = t0 + ms(3.0);
        assert!(p.due(441, now).is_some());
        // A read that found what it needed, or a little more, is on time.
        p.brought(441, 441);
        p.brought(441, 800);
        assert!(p.due(441, now).is_some());
        // A whole block more: the reads come a tick late.
        p.brought(441, 882);
        assert_eq!(p.due(441, now), None);
    }

    #[test]
    fn a_timed_read_that_found_too_few_waits_for_the_rest_on_the_socket() {
        let (mut p, tick) = ticked(Instant::now(), 2.0);
        // The tick came in two packets and the read returned with the first: the rest is a
        // moment away, not a tick.
        p.next_read();
        p.timer();
        p.brought(441, 300);
        p.read(tick + ms(10.4), tick + ms(10.41));
        p.block(tick + ms(10.41));
        assert_eq!(p.due(141, tick + ms(10.5)), None);
        // That read made, the timer is back.
        p.next_read();
        p.read(tick + ms(10.5), tick + ms(10.6));
        p.block(tick + ms(10.6));
        assert!(p.due(441, tick + ms(10.7)).is_some());
    }

    #[test]
    fn what_waits_in_the_servers_buffer_counts_as_latency() {
        // 48 kHz stereo 16-bit: 192 000 bytes a second.
        assert_eq!(bytes_to_us(192_000, 4, 48_000), 1_000_000);
        assert_eq!(bytes_to_us(1_920, 4, 48_000), 10_000);
        assert_eq!(bytes_to_us(u64::MAX, 1, 1), u64::MAX);
        assert_eq!(bytes_to_us(100, 0, 0), 100_000_000);
    }

    #[test]
    fn a_timer_that_keeps_waking_too_early_is_given_up_for_a_while() {
        let (mut p, mut at) = ticked(Instant::now(), 1.0);
        for i in 0..PACING_ROUND {
            // More than half the timed reads wait: the server does not tick as predicted.
            p.timer();
            let wait = if i % 3 == 0 { 0.01 } else { 2.0 };
            p.read(at, at + ms(wait));
            at += ms(wait);
            p.block(at);
            assert!(p.due(441, at).is_some() || i + 1 == PACING_ROUND, "{i}");
        }
        assert_eq!(p.due(441, at), None);
        assert_eq!(p.due(441, at + PACING_OFF_FOR - ms(1.0)), None);
        // Then it tries again from the next tick it sees.
        p.read(at + PACING_OFF_FOR, at + PACING_OFF_FOR + ms(1.0));
        p.block(at + PACING_OFF_FOR + ms(1.0));
        assert!(p.due(441, at + PACING_OFF_FOR + ms(2.0)).is_some());
    }
}
