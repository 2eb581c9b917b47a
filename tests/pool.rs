//! The step's keep-alive connections: calls share them, and a connection the server has
//! closed while idle costs neither an attempt nor a second message.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;

/// A loopback TCP relay in front of the simulator that counts the connections it is
/// given and can cut all of them, as a server or load balancer closing idle
/// connections would.
struct Relay {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (count, streams) = (accepted.clone(), live.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let server = TcpStream::connect(upstream).unwrap();
                streams.lock().unwrap().push(client.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Relay {
            addr,
            accepted,
            live,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every connection the relay holds, from the server's side.
    fn cut_all(&self) {
        for stream in self.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

fn step_through(relay: &Relay) -> Step {
    step_with_env(vec![
        ("HEYMARKET_API_KEY".into(), API_KEY.into()),
        ("HEYMARKET_BASE_URL".into(), relay.base_url()),
        ("HEYMARKET_BACKOFF_BASE_MS".into(), "20".into()),
    ])
}

#[test]
fn sequential_calls_share_one_connection() {
    let sim = simulator();
    let relay = Relay::start(sim.addr());
    let step = step_through(&relay);
    let rt = runtime();
    for n in 0..10 {
        let mut message = sms();
        message.local_id = Some(format!("pool-seq-{n}"));
        let sent = rt.block_on(step.send(&message)).unwrap().unwrap();
        assert_eq!(sent.attempts, 1);
    }
    assert_eq!(sim.messages().len(), 10);
    assert_eq!(step.connections_opened(), 1);
    assert_eq!(relay.accepted(), 1);
}

#[test]
fn concurrent_calls_open_at_most_one_connection_each_and_then_reuse_them() {
    let sim = simulator();
    let relay = Relay::start(sim.addr());
    let step = Arc::new(step_through(&relay));
    let rt = runtime();
    let round = |round: usize| {
        let calls: Vec<_> = (0..8)
            .map(|n| {
                let step = step.clone();
                let mut message = sms();
                message.local_id = Some(format!("pool-par-{round}-{n}"));
                rt.spawn(async move { step.send(&message).await })
            })
            .collect();
        for call in calls {
            let sent = rt.block_on(call).unwrap().unwrap().unwrap();
            assert_eq!(sent.attempts, 1);
        }
    };
    round(0);
    let after_first = step.connections_opened();
    assert!((1..=8).contains(&after_first), "{after_first}");
    // Let the last answers' connections go back to the pool.
    std::thread::sleep(Duration::from_millis(100));
    round(1);
    round(2);
    assert!(
        step.connections_opened() <= 8,
        "{}",
        step.connections_opened()
    );
    assert_eq!(relay.accepted() as u64, step.connections_opened());
    assert_eq!(sim.messages().len(), 24);
}

#[test]
fn a_connection_closed_while_idle_is_replaced_without_an_attempt_or_a_duplicate() {
    let sim = simulator();
    let relay = Relay::start(sim.addr());
    let step = step_through(&relay);
    let rt = runtime();
    let mut first = sms();
    first.local_id = Some("pool-stale-1".into());
    rt.block_on(step.send(&first)).unwrap().unwrap();

    relay.cut_all();
    // Long enough for the host's connection task to see the close.
    std::thread::sleep(Duration::from_millis(100));

    let mut second = sms();
    second.local_id = Some("pool-stale-2".into());
    let sent = rt.block_on(step.send(&second)).unwrap().unwrap();
    assert_eq!(
        sent.attempts, 1,
        "a stale connection must not cost an attempt"
    );
    assert_eq!(step.connections_opened(), 2);
    let ids: Vec<_> = sim.messages().iter().map(|m| m.local_id.clone()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
}

#[test]
fn connections_do_not_outlive_the_runtime_that_drove_them() {
    // Hosts that build a runtime per call (as these tests' `send` does) must not be
    // handed a connection whose driver is gone.
    let sim = simulator();
    let step = step(&sim, &[]);
    for n in 0..3 {
        let mut message = sms();
        message.local_id = Some(format!("pool-rt-{n}"));
        let sent = send(&step, &message).unwrap();
        assert_eq!(sent.attempts, 1);
    }
    assert_eq!(sim.messages().len(), 3);
}
