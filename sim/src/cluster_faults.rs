//! Faults applied to the [`Cluster`]: injected by hand ([`Cluster::inject`]) or from the
//! seeded schedule.

use crate::cluster::{Cluster, Event, SimConnPhase};
use crate::faults::{Fault, FaultKind, ScheduledFault};
use odradek_core::ConnId;
use std::time::Duration;

impl Cluster {
    /// Injects a fault now.
    pub fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::MoveLeader {
                topic,
                partition,
                to,
            } => self.move_leader(&topic, partition, to),
            Fault::CrashBroker { node, downtime } => self.crash(node, downtime),
            Fault::ResetConnection(conn) => {
                self.stats.connection_resets += 1;
                self.note(|| format!("fault: reset {conn:?}"));
                self.kill(conn);
            }
            f @ (Fault::LoseNextProduceResponse | Fault::FailNextPartition(_)) => {
                self.injections.push_back(f)
            }
        }
    }

    fn move_leader(&mut self, topic: &str, partition: i32, to: i32) {
        if self.broker_index(to).is_none() {
            return;
        }
        let Some(p) = usize::try_from(partition)
            .ok()
            .and_then(|i| self.topics.get_mut(topic)?.get_mut(i))
        else {
            return;
        };
        if p.leader != to {
            p.leader = to;
            p.epoch += 1;
            self.stats.leader_moves += 1;
            self.note(|| format!("fault: leader of {topic}-{partition} moves to broker {to}"));
        }
    }

    fn crash(&mut self, node: i32, downtime: Duration) {
        let Some(i) = self.broker_index(node) else {
            return;
        };
        if !self.up[i] {
            return;
        }
        self.up[i] = false;
        self.stats.crashes += 1;
        let now = self.now;
        self.stats.outages.push((now, None));
        self.note(|| format!("fault: broker {node} crashes for {downtime:?}"));
        self.kill_connections_to(node);
        let live: Vec<i32> = (1..=self.up.len() as i32)
            .filter(|n| self.is_up(*n))
            .collect();
        if !live.is_empty() {
            let moves: Vec<(String, i32)> = self
                .topics
                .iter()
                .flat_map(|(t, ps)| {
                    ps.iter()
                        .enumerate()
                        .filter(|(_, p)| p.leader == node)
                        .map(move |(i, _)| (t.clone(), i as i32))
                })
                .collect();
            for (t, p) in moves {
                let to = live[self.rng.below(live.len() as u64) as usize];
                self.move_leader(&t, p, to);
            }
        }
        self.schedule_at(self.now + downtime, Event::Restart { node });
    }

    /// Resets every connection to broker `node`.
    pub(crate) fn kill_connections_to(&mut self, node: i32) {
        let victims: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.broker == Some(node))
            .map(|(id, _)| *id)
            .collect();
        for conn in victims {
            self.kill(conn);
        }
    }

    pub(crate) fn apply_timed(&mut self, fault: &ScheduledFault) {
        match fault.kind {
            FaultKind::LeaderMove => {
                let all: Vec<(String, i32, i32)> = self
                    .topics
                    .iter()
                    .flat_map(|(t, ps)| {
                        ps.iter()
                            .enumerate()
                            .map(move |(i, p)| (t.clone(), i as i32, p.leader))
                    })
                    .collect();
                if all.is_empty() {
                    return;
                }
                let (t, p, leader) = all[(fault.pick % all.len() as u64) as usize].clone();
                let others: Vec<i32> = (1..=self.up.len() as i32)
                    .filter(|n| *n != leader && self.is_up(*n))
                    .collect();
                if !others.is_empty() {
                    let to = others[((fault.pick >> 32) % others.len() as u64) as usize];
                    self.move_leader(&t, p, to);
                }
            }
            FaultKind::BrokerCrash => {
                let live: Vec<i32> = (1..=self.up.len() as i32)
                    .filter(|n| self.is_up(*n))
                    .collect();
                if !live.is_empty() {
                    let node = live[(fault.pick % live.len() as u64) as usize];
                    self.crash(node, fault.downtime);
                }
            }
            FaultKind::ConnectionReset => {
                let open: Vec<ConnId> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.state == SimConnPhase::Open)
                    .map(|(id, _)| *id)
                    .collect();
                if !open.is_empty() {
                    let conn = open[(fault.pick % open.len() as u64) as usize];
                    self.inject(Fault::ResetConnection(conn));
                }
            }
        }
    }
}

impl Cluster {
    /// Whether per-response faults apply now (see [`FaultConfig::heal`]).
    ///
    /// [`FaultConfig::heal`]: crate::FaultConfig::heal
    pub(crate) fn faults_active(&self) -> bool {
        self.config.faults.active_at(self.start_instant(), self.now)
    }

    /// [`FaultConfig::permanent_crash`](crate::FaultConfig::permanent_crash): a live broker
    /// chosen by `pick` goes down for good.
    pub(crate) fn crash_forever(&mut self, pick: u64) {
        let live: Vec<i32> = (1..=self.up.len() as i32)
            .filter(|n| self.is_up(*n))
            .collect();
        if live.is_empty() {
            return;
        }
        let node = live[(pick % live.len() as u64) as usize];
        // A crash whose restart is never scheduled: a downtime past any run.
        self.crash(node, Duration::ZERO);
        self.cancel_restart(node);
        self.stats.permanent_crashes += 1;
        self.stats.last_crash_change = Some(self.now);
        self.note(|| format!("fault: broker {node} is down for good"));
    }
}
