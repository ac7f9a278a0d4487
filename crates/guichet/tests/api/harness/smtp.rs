//! A small real SMTP server for the tests: it speaks enough of RFC 5321 (EHLO/HELO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT) for lettre, keeps every message, and can be stopped and
//! started again on the same port to simulate an outage.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Captured {
    /// The envelope sender.
    #[allow(dead_code)]
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Captured {
    /// The message with its quoted-printable encoding undone, for searching.
    pub fn text(&self) -> String {
        let joined = self.data.replace("=\r\n", "").replace("=\n", "");
        let b = joined.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if b[i] == b'='
                && i + 2 < b.len()
                && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
            {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    pub messages: Arc<Mutex<Vec<Captured>>>,
    task: Option<JoinHandle<()>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let addr = listener.local_addr().expect("addr");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let task = Some(tokio::spawn(serve(listener, messages.clone())));
        Self {
            addr,
            messages,
            task,
        }
    }

    /// A sink whose port is chosen but not listening yet (the SMTP server is "down").
    pub async fn down() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        Self {
            addr,
            messages: Arc::new(Mutex::new(Vec::new())),
            task: None,
        }
    }

    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub async fn up(&mut self) {
        self.stop();
        let listener = TcpListener::bind(self.addr).await.expect("rebind smtp");
        self.task = Some(tokio::spawn(serve(listener, self.messages.clone())));
    }

    pub fn all(&self) -> Vec<Captured> {
        self.messages.lock().expect("lock").clone()
    }

    pub fn to(&self, rcpt: &str) -> Vec<Captured> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == rcpt))
            .collect()
    }

    /// Wait for a mail to `rcpt` whose text contains `needle`.
    pub async fn wait_for(&self, rcpt: &str, needle: &str) -> Captured {
        super::eventually(20, &format!("a mail to {rcpt} with {needle}"), || async {
            self.to(rcpt)
                .into_iter()
                .find(|m| m.text().contains(needle))
        })
        .await
    }

    /// Wait for a mail to `rcpt` containing `marker` and return the token that follows it.
    pub async fn wait_for_token(&self, rcpt: &str, marker: &str) -> String {
        super::eventually(20, &format!("a mail to {rcpt} with {marker}"), || async {
            self.to(rcpt)
                .iter()
                .rev()
                .find_map(|m| token_after(&m.text(), marker))
        })
        .await
    }
}

pub fn token_after(text: &str, marker: &str) -> Option<String> {
    let i = text.find(marker)?;
    let rest = &text[i + marker.len()..];
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    (!token.is_empty()).then_some(token)
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(listener: TcpListener, messages: Arc<Mutex<Vec<Captured>>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let messages = messages.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            let _ = w.write_all(b"220 sink.test ESMTP\r\n").await;
            let (mut from, mut to, mut line) = (String::new(), Vec::new(), String::new());
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let cmd = line.trim_end().to_owned();
                let upper = cmd.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") {
                    b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                    b"250 ok\r\n"
                } else if upper.starts_with("MAIL FROM:") {
                    from = addr_of(&cmd[10..]);
                    to.clear();
                    b"250 ok\r\n"
                } else if upper.starts_with("RCPT TO:") {
                    to.push(addr_of(&cmd[8..]));
                    b"250 ok\r\n"
                } else if upper == "DATA" {
                    let _ = w.write_all(b"354 go ahead\r\n").await;
                    let mut data = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == ".\r\n" || line == ".\n" {
                            break;
                        }
                        let l = if line.starts_with("..") {
                            &line[1..]
                        } else {
                            &line[..]
                        };
                        data.push_str(l);
                    }
                    if let Ok(mut m) = messages.lock() {
                        m.push(Captured {
                            from: from.clone(),
                            to: to.clone(),
                            data,
                        });
                    }
                    b"250 queued\r\n"
                } else if upper.starts_with("RSET") {
                    to.clear();
                    b"250 ok\r\n"
                } else if upper.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n").await;
                    return;
                } else {
                    b"502 not implemented\r\n"
                };
                if w.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn addr_of(s: &str) -> String {
    let s = s.trim();
    let s = s.split_whitespace().next().unwrap_or(s);
    s.trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}
