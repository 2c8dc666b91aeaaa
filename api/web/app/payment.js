// Paying for a held reservation: the simulated provider (no money moves), or Toss
// Payments' v1 window when the server has a Toss client key. Both end in confirmPayment.

import { gql, newKey } from './api.js';

export const RESERVATION_FIELDS = `
  id status amount discount seatCount orderId orderName expiresAt
  appliedCoupon { id coupon { id name } }
  seats { id grade price active }
  session { id }
`;

let providerPromise = null;

export function paymentProvider() {
  if (!providerPromise) {
    providerPromise = gql('query Provider { paymentProvider { name simulated clientKey } }')
      .then((data) => data.paymentProvider)
      .catch((err) => {
        providerPromise = null;
        throw err;
      });
  }
  return providerPromise;
}

export async function confirmPayment(reservation, paymentKey) {
  const data = await gql(`mutation Pay($r: ID!, $k: String!, $o: String!, $a: Int!) {
    confirmPayment(reservationId: $r, paymentKey: $k, orderId: $o, amount: $a) { ${RESERVATION_FIELDS} }
  }`, { r: reservation.id, k: paymentKey, o: reservation.orderId, a: reservation.amount });
  return data.confirmPayment;
}

/** The simulated provider approves any key except those starting sim_decline / sim_timeout. */
export function simulatedPaymentKey() {
  return `sim-web-${newKey()}`;
}

const TOSS_SCRIPT = 'https://js.tosspayments.com/v1/payment';
let tossLoading = null;

function loadToss() {
  if (window.TossPayments) return Promise.resolve(window.TossPayments);
  if (!tossLoading) {
    tossLoading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = TOSS_SCRIPT;
      script.async = true;
      script.addEventListener('load', () => (window.TossPayments ? resolve(window.TossPayments) : reject(new Error('no TossPayments'))));
      script.addEventListener('error', () => {
        tossLoading = null;
        script.remove();
        reject(new Error('the Toss script did not load'));
      });
      document.head.append(script);
    });
  }
  return tossLoading;
}

const pendingKey = (orderId) => `curtain.pay.${orderId}`;

/** What the success page needs to confirm an order Toss sends the buyer back with. */
export function pendingOrder(orderId) {
  try {
    return JSON.parse(sessionStorage.getItem(pendingKey(orderId)));
  } catch {
    return null;
  }
}

export function forgetOrder(orderId) {
  sessionStorage.removeItem(pendingKey(orderId));
}

/** Opens Toss's payment window; on success the browser goes to /#/pay/success. */
export async function payWithToss(clientKey, reservation, sessionId, customerName) {
  const TossPayments = await loadToss();
  sessionStorage.setItem(pendingKey(reservation.orderId), JSON.stringify({ reservationId: reservation.id, sessionId }));
  const base = `${window.location.origin}/`;
  await TossPayments(clientKey).requestPayment('카드', {
    amount: reservation.amount,
    orderId: reservation.orderId,
    orderName: reservation.orderName || 'Curtain',
    customerName: customerName || undefined,
    successUrl: `${base}#/pay/success`,
    failUrl: `${base}#/pay/fail`,
  });
}
