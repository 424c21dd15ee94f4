// The portal: sign in with an API key, then the customer's or the operator's
// view. Which one follows from what the key may do: the operator-only
// topology resource answers an operator's key, refuses a customer's (403).
import { h, render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import htm from 'htm';
import { ApiError, TOPOLOGY, client, saveKey, savedKey } from './api.js';
import { CustomerView } from './customer.js';
import { OperatorView } from './operator.js';

const html = htm.bind(h);

function Login({ onKey, error }) {
  const [key, setKey] = useState('');
  const submit = (e) => {
    e.preventDefault();
    onKey(key.trim());
  };
  return html`<form class="login" onSubmit=${submit}>
    <h1>qos-broker portal</h1>
    <p>Paste the API key your provider gave you (made with <code>qos-broker apikey create</code>).</p>
    <label>API key <input id="api-key" type="password" autocomplete="off" value=${key} onInput=${(e) => setKey(e.target.value)} placeholder="qbk_..." /></label>
    <button id="sign-in" type="submit" disabled=${!key.trim()}>Sign in</button>
    ${error && html`<p class="error" id="login-error">${error}</p>`}
  </form>`;
}

function App() {
  const [key, setKey] = useState(savedKey());
  const [role, setRole] = useState(undefined);
  const [error, setError] = useState('');
  const api = useMemo(() => client(key), [key]);
  useEffect(() => {
    if (!key) return;
    let live = true;
    api
      .get(TOPOLOGY)
      .then(() => live && setRole('operator'))
      .catch((err) => {
        if (!live) return;
        if (err instanceof ApiError && err.status === 403) return setRole('customer');
        saveKey('');
        setKey('');
        setError(err instanceof ApiError && err.status === 401 ? 'This key is not accepted (unknown, revoked or malformed).' : `Cannot sign in: ${err.message}`);
      });
    return () => {
      live = false;
    };
  }, [key]);
  const signOut = () => {
    saveKey('');
    setKey('');
    setRole(undefined);
    setError('');
  };
  if (!key) return html`<${Login} error=${error} onKey=${(k) => { saveKey(k); setError(''); setRole(undefined); setKey(k); }} />`;
  if (!role) return html`<p>Signing in&hellip;</p>`;
  return html`<div class="shell">
    <header><span class="brand">qos-broker</span> <span id="role" data-role=${role}>${role === 'operator' ? 'operator' : 'customer'} view</span>
      <button id="sign-out" onClick=${signOut}>Sign out</button></header>
    <main>${role === 'operator' ? html`<${OperatorView} api=${api} />` : html`<${CustomerView} api=${api} />`}</main>
  </div>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
