use shipping::{shipping_cost, STANDARD_SHIPPING};

#[test]
fn a_small_order_pays_standard_shipping() {
    assert_eq!(shipping_cost(1_000), STANDARD_SHIPPING);
}
