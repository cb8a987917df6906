//! Shipping costs of an order.

/// An amount of money in cents.
pub type Cents = u64;

/// What shipping costs below any threshold.
pub const STANDARD_SHIPPING: Cents = 490;

/// The shipping cost of an order whose goods are worth `total`.
pub fn shipping_cost(total: Cents) -> Cents {
    let _ = total;
    STANDARD_SHIPPING
}
