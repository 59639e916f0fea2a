// tcpstate-collector: entry point. Parses options, boots the Nest application
// and turns every start-up failure into one line and a non-zero exit.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { helpText, parseOptions, runProgram } from '@tcpstate/config';
import { type CollectorOptions, collectorOptionSpecs } from './collector-options.js';
import { CollectorModule } from './collector.module.js';

runProgram('tcpstate-collector', async (argv) => {
  const { values, help } = parseOptions(collectorOptionSpecs, argv);
  if (help) {
    console.log(helpText('tcpstate-collector [options]', 'Subscribes to tcpstate agents, stores their events and serves timeline queries (tcpstate.v1.CollectorService).', collectorOptionSpecs));
    return;
  }
  const app = await NestFactory.createApplicationContext(CollectorModule.forRoot(values as unknown as CollectorOptions), {
    logger: ['error', 'warn', 'log'],
    abortOnError: false,
  });
  await app.init();
  return app;
});
