use std::time::Duration;

/// When and how often to reconnect. The defaults are the official JavaScript
/// client's: 1 s doubling up to 5 s, randomised by ±50 %, forever.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectConfig {
    /// Delay before the first attempt. Default 1 s.
    pub initial_delay: Duration,
    /// The delay never grows past this. Default 5 s.
    pub max_delay: Duration,
    /// How much each delay is randomly moved, as a fraction of it (0 to 1).
    /// Default 0.5. Randomness keeps a crowd of clients from reconnecting in step.
    pub randomization: f64,
    /// Give up after this many failed attempts; `None` (the default) never gives up.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            randomization: 0.5,
            max_attempts: None,
        }
    }
}

/// Exponential backoff with jitter, the same curve as the JavaScript client's.
/// It owns a small deterministic random generator, so a seed makes it repeatable.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: ReconnectConfig,
    attempts: u32,
    rng: u64,
}

impl Backoff {
    /// A fresh backoff; `seed` feeds the jitter (any value, zero included).
    pub fn new(config: ReconnectConfig, seed: u64) -> Self {
        Self {
            config,
            attempts: 0,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// Attempts made since the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether the configured number of attempts is used up.
    pub fn exhausted(&self) -> bool {
        self.config
            .max_attempts
            .is_some_and(|max| self.attempts >= max)
    }

    /// The delay before the next attempt, counting that attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.config.initial_delay.as_secs_f64()
            * 2f64.powi(i32::try_from(self.attempts).unwrap_or(i32::MAX).min(64));
        self.attempts = self.attempts.saturating_add(1);
        let jitter = self.config.randomization.clamp(0.0, 1.0);
        let r = self.random();
        let deviation = r * jitter * base;
        let delay = if (r * 10.0) as u32 & 1 == 0 {
            base - deviation
        } else {
            base + deviation
        };
        Duration::from_secs_f64(delay.clamp(0.0, self.config.max_delay.as_secs_f64()))
    }

    /// Starts counting again after a successful connection.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// A number in [0, 1) from xorshift64*.
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let out = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (out >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_jitter_the_delay_doubles_up_to_the_cap() {
        let config = ReconnectConfig {
            randomization: 0.0,
            ..ReconnectConfig::default()
        };
        let mut backoff = Backoff::new(config, 7);
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [1000, 2000, 4000, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next_delay().as_millis(), 1000);
    }

    #[test]
    fn jitter_stays_within_half_of_the_delay_and_varies() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..50 {
            let mut backoff = Backoff::new(ReconnectConfig::default(), seed);
            let first = backoff.next_delay();
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(1500));
            seen.insert(first.as_millis());
        }
        assert!(
            seen.len() > 10,
            "jitter should spread clients out: {seen:?}"
        );
    }

    #[test]
    fn attempts_run_out_only_when_limited() {
        let mut unlimited = Backoff::new(ReconnectConfig::default(), 1);
        for _ in 0..1000 {
            unlimited.next_delay();
        }
        assert!(!unlimited.exhausted());
        let mut limited = Backoff::new(
            ReconnectConfig {
                max_attempts: Some(2),
                ..ReconnectConfig::default()
            },
            1,
        );
        limited.next_delay();
        assert!(!limited.exhausted());
        limited.next_delay();
        assert!(limited.exhausted());
    }
}
