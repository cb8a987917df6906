'use strict';

/** The total of a cart's items, in cents. */
function total(items) {
  return items.reduce((sum, item) => sum + item.price * item.quantity, 0);
}

module.exports = { total };
