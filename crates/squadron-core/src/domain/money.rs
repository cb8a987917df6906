//! Token counts and money, kept in integers so sums never drift.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

/// An amount of US dollars in millionths of a dollar (micro-USD).
///
/// Prices are quoted per million tokens, so one token at a price of `p` dollars per million
/// costs exactly `p` micro-dollars: integer arithmetic stays exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd {
    micros: i64,
}

impl Usd {
    /// No money.
    pub const ZERO: Usd = Usd { micros: 0 };

    /// An amount from micro-dollars.
    pub const fn from_micros(micros: i64) -> Self {
        Self { micros }
    }

    /// An amount from a decimal number of dollars, rounded to the nearest micro-dollar.
    pub fn from_dollars(dollars: f64) -> Self {
        // Rounding to micro-dollars is the documented precision of every amount.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "amounts are far below i64::MAX micro-dollars"
        )]
        let micros = (dollars * 1_000_000.0).round() as i64;
        Self { micros }
    }

    /// The amount in micro-dollars, as stored.
    pub const fn as_micros(self) -> i64 {
        self.micros
    }

    /// The amount in dollars, for display.
    pub fn as_dollars(self) -> f64 {
        self.micros as f64 / 1_000_000.0
    }
}

impl Add for Usd {
    type Output = Usd;

    fn add(self, rhs: Usd) -> Usd {
        Usd::from_micros(self.micros.saturating_add(rhs.micros))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, rhs: Usd) {
        *self = *self + rhs;
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Add::add)
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${:.4}", self.as_dollars())
    }
}

/// Prices of one model in dollars per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenPrices {
    /// Uncached prompt tokens.
    pub input_per_million: f64,
    /// Prompt tokens served from the provider's prefix cache.
    pub cached_input_per_million: f64,
    /// Completion tokens.
    pub output_per_million: f64,
}

/// Tokens used by one model call (or a sum of calls).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenUsage {
    /// All prompt tokens, cached ones included (as providers report them).
    pub prompt: u64,
    /// The part of `prompt` that the provider served from its cache.
    pub cached: u64,
    /// Completion tokens.
    pub completion: u64,
}

impl TokenUsage {
    /// Prompt plus completion tokens.
    pub fn total(&self) -> u64 {
        self.prompt + self.completion
    }

    /// What this usage costs at `prices`.
    pub fn cost(&self, prices: &TokenPrices) -> Usd {
        let uncached = self.prompt.saturating_sub(self.cached) as f64;
        let dollars = (uncached * prices.input_per_million
            + self.cached as f64 * prices.cached_input_per_million
            + self.completion as f64 * prices.output_per_million)
            / 1_000_000.0;
        Usd::from_dollars(dollars)
    }
}

impl Add for TokenUsage {
    type Output = TokenUsage;

    fn add(self, rhs: TokenUsage) -> TokenUsage {
        TokenUsage {
            prompt: self.prompt + rhs.prompt,
            cached: self.cached + rhs.cached,
            completion: self.completion + rhs.completion,
        }
    }
}

impl AddAssign for TokenUsage {
    fn add_assign(&mut self, rhs: TokenUsage) {
        *self = *self + rhs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_prices_cached_tokens_separately() {
        let prices = TokenPrices {
            input_per_million: 2.0,
            cached_input_per_million: 0.5,
            output_per_million: 8.0,
        };
        let usage = TokenUsage {
            prompt: 1_000_000,
            cached: 400_000,
            completion: 100_000,
        };
        // 600k uncached * $2/M + 400k cached * $0.5/M + 100k * $8/M = 1.2 + 0.2 + 0.8
        assert_eq!(usage.cost(&prices), Usd::from_dollars(2.2));
        assert_eq!(usage.total(), 1_100_000);
    }

    #[test]
    fn usd_displays_four_decimals() {
        assert_eq!(Usd::from_micros(1_234_567).to_string(), "$1.2346");
    }
}
