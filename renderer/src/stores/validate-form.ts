/** The Validate screen's sweep form, kept while the app is open (leaving the screen keeps it). */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { Method, ValidationNoise } from '../../../shared/contract.ts'

export const useValidateFormStore = defineStore('validate-form', () => {
  const noiseTypes = ref<ValidationNoise[]>(['symmetric'])
  const methods = ref<Method[]>(['teacher', 'pll'])
  const ratesText = ref('0.2, 0.5, 0.8')
  const seedsText = ref('0, 1, 2')
  /** Review simulation (issue 8): an inspector answering the top flags in batches, with and without feedback. */
  const simulateReview = ref(false)
  const reviewBatch = ref(100)
  const reviewBudget = ref(1000)
  return { noiseTypes, methods, ratesText, seedsText, simulateReview, reviewBatch, reviewBudget }
})
