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
