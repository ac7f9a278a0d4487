// Card entry on the payment-methods page when the provider charges through Stripe: Stripe's
// own card field (the numbers go from the browser to Stripe, never to us), a SetupIntent asked
// of the panel, confirmed with Stripe, then the form posts the resulting pm_… id.
(function () {
  var form = document.getElementById('stripe-card');
  if (!form) return;
  var out = document.getElementById('stripe-error');
  if (typeof Stripe === 'undefined') {
    out.textContent = form.dataset.unavailable;
    return;
  }
  var stripe = Stripe(form.dataset.key);
  var card = stripe.elements().create('card');
  card.mount('#stripe-element');
  form.addEventListener('submit', function (ev) {
    if (form.elements.token.value) return;
    ev.preventDefault();
    out.textContent = '';
    var body = new URLSearchParams({ _csrf: form.elements._csrf.value });
    fetch(form.dataset.setup, { method: 'POST', body: body, credentials: 'same-origin' })
      .then(function (r) {
        return r.json().then(function (v) {
          if (!r.ok) throw new Error(v.message || form.dataset.unavailable);
          return v;
        });
      })
      .then(function (si) {
        return stripe.confirmCardSetup(si.client_secret, { payment_method: { card: card } });
      })
      .then(function (res) {
        if (res.error) throw new Error(res.error.message);
        form.elements.token.value = res.setupIntent.payment_method;
        form.submit();
      })
      .catch(function (e) {
        out.textContent = e.message;
      });
  });
})();
