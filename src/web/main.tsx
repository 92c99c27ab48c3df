// Must stay the first import (see the file).
import './zod-jitless.ts';
import { render } from 'preact';
import { App, Boundary } from './components/App.tsx';
import { takeNext } from './lib/route.ts';
import { boot } from './lib/session.ts';
import './styles.css';

const root = document.getElementById('app');
if (root) {
  takeNext();
  render(
    <Boundary>
      <App />
    </Boundary>,
    root,
  );
  void boot();
}
