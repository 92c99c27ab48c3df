export { AccessRepository } from './access.repository.ts';
export { AccessService, NoAccessError } from './access.service.ts';
