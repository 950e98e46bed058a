//! Network pieces of the tests that make a server unreachable, late or cut: ports, a
//! forwarder that starts late, and URLs pointed elsewhere.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A port nothing listens on: bound, then let go.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port that refuses connections until `delay` has passed, then forwards to `server`:
/// a database that comes up after the application.
pub fn late_forwarder(server: SocketAddr, delay: Duration) -> u16 {
    let port = closed_port();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(server) else {
                return;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    port
}

/// The server address of `url` (`default_port` when none is written).
pub fn address(url: &str, default_port: u16) -> SocketAddr {
    let authority = url
        .split_once("://")
        .unwrap()
        .1
        .split(['/', '?'])
        .next()
        .unwrap();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    };
    host.to_socket_addrs().unwrap().next().unwrap()
}

/// `url` pointed at `port` on 127.0.0.1, keeping its user, database and options.
pub fn on_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"));
    format!(
        "{scheme}://{}127.0.0.1:{port}/{path}",
        user.unwrap_or_default()
    )
}

/// What a [`counting_forwarder`] saw: connections made through it, and round trips of
/// PostgreSQL's protocol (a client's `Query` or `Sync`, each of which it waits on: the
/// server answers each with `ReadyForQuery`).
#[derive(Default, Debug)]
pub struct Traffic {
    connections: std::sync::atomic::AtomicUsize,
    round_trips: std::sync::atomic::AtomicUsize,
    queries: std::sync::Mutex<Vec<String>>,
    parses: std::sync::atomic::AtomicUsize,
}

impl Traffic {
    /// Connections made since the last [`reset`](Self::reset).
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Round trips since the last [`reset`](Self::reset).
    pub fn round_trips(&self) -> usize {
        self.round_trips.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The text of each simple-protocol `Query` message since the last
    /// [`reset`](Self::reset), in the order sent.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }

    /// Statements prepared (extended protocol `Parse` messages) since the last
    /// [`reset`](Self::reset).
    pub fn parses(&self) -> usize {
        self.parses.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts counting again from zero.
    pub fn reset(&self) {
        self.connections
            .store(0, std::sync::atomic::Ordering::SeqCst);
        self.round_trips
            .store(0, std::sync::atomic::Ordering::SeqCst);
        self.queries.lock().unwrap().clear();
        self.parses.store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A port that forwards to a PostgreSQL `server`, reading the client's side of the
/// protocol to count connections and round trips ([`Traffic`]). The client must not
/// use TLS (`sslmode=disable`): the count reads the messages in the clear.
pub fn counting_forwarder(server: SocketAddr) -> (u16, std::sync::Arc<Traffic>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let traffic = std::sync::Arc::new(Traffic::default());
    let counted = traffic.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(server) else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            counted
                .connections
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (mut from_server, mut to_client) =
                (upstream.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            });
            let counted = counted.clone();
            std::thread::spawn(move || {
                let _ = count_client_messages(client, upstream, &counted);
            });
        }
    });
    (port, traffic)
}

/// `url` (a PostgreSQL URL) through a new [`counting_forwarder`], in the clear
/// (`sslmode=disable`, so the count can read the messages), and its count.
pub fn counted_url(url: &str) -> (String, std::sync::Arc<Traffic>) {
    let (port, traffic) = counting_forwarder(address(url, 5432));
    let through = on_port(url, port);
    let separator = if through.contains('?') { '&' } else { '?' };
    (format!("{through}{separator}sslmode=disable"), traffic)
}

/// Copies the client's messages to the server one by one, counting `Query` and `Sync`.
fn count_client_messages(
    mut client: TcpStream,
    mut upstream: TcpStream,
    traffic: &Traffic,
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    // The first messages have no type byte: an SSL or GSS request (answered by one
    // byte, then another untyped message) or the startup message.
    loop {
        let mut length = [0u8; 4];
        client.read_exact(&mut length)?;
        let mut body = vec![0u8; (u32::from_be_bytes(length) as usize).saturating_sub(4)];
        client.read_exact(&mut body)?;
        upstream.write_all(&length)?;
        upstream.write_all(&body)?;
        let code = body
            .get(..4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()));
        if !matches!(code, Some(80_877_103 | 80_877_104)) {
            break;
        }
    }
    loop {
        let mut header = [0u8; 5];
        client.read_exact(&mut header)?;
        let length = u32::from_be_bytes(header[1..].try_into().unwrap()) as usize;
        let mut body = vec![0u8; length.saturating_sub(4)];
        client.read_exact(&mut body)?;
        if header[0] == b'Q' {
            let text = body.strip_suffix(&[0]).unwrap_or(&body);
            let text = String::from_utf8_lossy(text).into_owned();
            traffic.queries.lock().unwrap().push(text);
        }
        if header[0] == b'P' {
            traffic
                .parses
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if matches!(header[0], b'Q' | b'S') {
            traffic
                .round_trips
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        upstream.write_all(&header)?;
        upstream.write_all(&body)?;
    }
}
