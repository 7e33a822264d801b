//! A source connector that misbehaves in the way its `mode` config key says, so the tests can
//! prove a bad plugin fails alone. Modes: `loop` (spins forever in poll), `alloc` (allocates
//! without bound), `panic`, `fatal` (returns a fatal error), `socket` (tries to connect to
//! 127.0.0.1:`port`), `read` (reads the file named by `path`), `internal` (writes to
//! connectd's offsets topic), `forge` (sets connectd's own position header), `leak` (fails
//! with its `password` config in the message), `ok` (one record per poll), `slow` (one record
//! per poll, each poll taking `sleep.ms`).

use connectd_sdk::{
    Config, Configurable, ConnectorError, Descriptor, Header, Resume, Source, SourceBatch,
    SourceRecord,
};

/// The misbehaving source's keys.
#[derive(Configurable)]
pub struct MisbehaveConfig {
    /// How to misbehave (see the crate's docs).
    pub mode: Mode,
    /// The port `socket` tries to connect to.
    #[config(default = 9)]
    pub port: u16,
    /// What `leak` puts in its error.
    #[config(default = "", secret)]
    pub password: String,
    /// The file `read` reads.
    pub path: Option<String>,
    /// How long each `slow` poll takes, in ms.
    #[config(key = "sleep.ms", default = 3000)]
    pub sleep_ms: u64,
}

/// The ways it misbehaves.
#[derive(Configurable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Loop,
    Alloc,
    Panic,
    Fatal,
    Socket,
    Read,
    Internal,
    Forge,
    Leak,
    Ok,
    Slow,
}

/// The misbehaving task.
pub struct Misbehave {
    config: MisbehaveConfig,
    polls: u64,
}

impl Source for Misbehave {
    fn describe() -> Descriptor {
        Descriptor::source(
            "test-misbehave",
            env!("CARGO_PKG_VERSION"),
            &MisbehaveConfig::schema(),
        )
    }

    fn open(config: Config, _resume: Resume) -> Result<Self, ConnectorError> {
        Ok(Misbehave {
            config: config.parse()?,
            polls: 0,
        })
    }

    fn poll(&mut self, _max: u32, batch: &mut SourceBatch) -> Result<(), ConnectorError> {
        self.polls += 1;
        let record = self.record()?;
        batch.push(record);
        Ok(())
    }
}

impl Misbehave {
    /// The one record a poll returns, or how the mode misbehaves.
    fn record(&mut self) -> Result<SourceRecord, ConnectorError> {
        match self.config.mode {
            Mode::Loop => {
                let mut x: u64 = self.polls;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            Mode::Alloc => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Panic => panic!("misbehave: panicking on purpose"),
            Mode::Fatal => Err(ConnectorError::Fatal(
                "misbehave: giving up on purpose".into(),
            )),
            Mode::Socket => {
                let port = self.config.port;
                match std::net::TcpStream::connect(format!("127.0.0.1:{port}")) {
                    Ok(_) => Ok(SourceRecord::new(
                        b"connected".to_vec(),
                        b"socket".to_vec(),
                        vec![],
                    )),
                    Err(e) => Err(ConnectorError::Fatal(format!("socket refused: {e}"))),
                }
            }
            Mode::Internal => Ok(SourceRecord {
                topic: Some("connectd-offsets".into()),
                ..SourceRecord::new(b"forged offsets".to_vec(), b"internal".to_vec(), vec![])
            }),
            Mode::Forge => Ok(SourceRecord {
                headers: vec![Header {
                    key: "connectd.source".into(),
                    value: b"{\"someone-else\":1}".to_vec(),
                }],
                ..SourceRecord::new(b"forged".to_vec(), b"forge".to_vec(), vec![])
            }),
            Mode::Leak => Err(ConnectorError::Fatal(format!(
                "cannot log in with password {}",
                self.config.password
            ))),
            Mode::Read => {
                let path = self.config.path.as_deref().ok_or_else(|| {
                    ConnectorError::InvalidConfig("key `path`: missing; mode read needs it".into())
                })?;
                match std::fs::read(path) {
                    Ok(bytes) => Ok(SourceRecord::new(bytes, b"read".to_vec(), vec![])),
                    Err(e) => Err(ConnectorError::Fatal(format!("read refused: {e}"))),
                }
            }
            Mode::Slow => {
                std::thread::sleep(std::time::Duration::from_millis(self.config.sleep_ms));
                self.config.mode = Mode::Ok;
                let record = self.record();
                self.config.mode = Mode::Slow;
                record
            }
            Mode::Ok => Ok(SourceRecord::new(
                self.polls.to_string().into_bytes(),
                b"ok".to_vec(),
                self.polls.to_be_bytes().to_vec(),
            )),
        }
    }
}

connectd_sdk::export_source!(Misbehave);
