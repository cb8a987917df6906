'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { total } = require('../src/cart');

test('the total adds price times quantity', () => {
  assert.equal(total([{ price: 250, quantity: 2 }, { price: 100, quantity: 1 }]), 600);
});
